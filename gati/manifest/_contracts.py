"""Do handlers and the modules they call agree? Checked on the manifest alone.

For every module use the manifest found in a handler or hook (``ModuleCall``):

- the module is registered, and the method exists on its class;
- the call's arguments bind to the method's signature: not too many positional
  arguments, no unknown or repeated keyword, nothing required left out. Calls with
  ``*args`` / ``**kwargs`` are checked only as far as they can be.

A module whose class cannot be known (a factory function without a return annotation)
cannot be checked; its uses are listed as unverified warnings, not errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from gati.manifest._model import AppManifest, HandlerManifest, ModuleCall, ModuleMethod


@dataclass(frozen=True, slots=True)
class ContractIssue:
    handler_id: str
    version: str
    site: str
    module: str
    method: str
    line: int | None
    problem: str  # unknown_module, unknown_method, arity, unverified
    detail: str

    @property
    def is_error(self) -> bool:
        return self.problem != "unverified"

    def __str__(self) -> str:
        where = f"{self.handler_id} ({self.version})"
        if self.site != "handler":
            where += f" hook {self.site}"
        line = f" line {self.line}" if self.line is not None else ""
        return f"{where}{line}: {self.module}.{self.method}: {self.problem}: {self.detail}"


@dataclass(frozen=True, slots=True)
class ContractReport:
    app: str
    checked: int
    issues: tuple[ContractIssue, ...]

    @property
    def ok(self) -> bool:
        return not any(i.is_error for i in self.issues)

    def render(self) -> str:
        errors = [i for i in self.issues if i.is_error]
        warnings = [i for i in self.issues if not i.is_error]
        head = "OK" if self.ok else "MISMATCH"
        lines = [f"{head}: {self.app}: {self.checked} module uses checked, "
                 f"{len(errors)} errors, {len(warnings)} unverified"]
        lines += [f"  error: {i}" for i in errors]
        lines += [f"  warning: {i}" for i in warnings]
        return "\n".join(lines)


def check_contracts(manifest: AppManifest) -> ContractReport:
    """Check every module use of every handler version of ``manifest``."""
    issues: list[ContractIssue] = []
    checked = 0
    seen: set[tuple[str, str, str, str, int | None]] = set()
    for handler in manifest.handlers:
        for call in handler.modules:
            key = (handler.handler_id, handler.version, call.module, call.method, call.line)
            if key in seen:
                continue
            seen.add(key)
            checked += 1
            issues += _check(manifest, handler, call)
    return ContractReport(manifest.app, checked, tuple(issues))


def _check(manifest: AppManifest, handler: HandlerManifest,
           call: ModuleCall) -> list[ContractIssue]:
    def issue(problem: str, detail: str) -> ContractIssue:
        return ContractIssue(handler.handler_id, handler.version, call.site, call.module,
                             call.method, call.line, problem, detail)

    module = manifest.module(call.module)
    if module is None:
        known = ", ".join(m.module_id for m in manifest.modules) or "none"
        return [issue("unknown_module", f"no module {call.module!r} is registered "
                                        f"(registered: {known})")]
    if not module.analyzed:
        return [issue("unverified", f"the class made by {module.factory} is unknown; "
                                    "annotate the factory's return type")]
    method = module.method(call.method)
    if method is None:
        names = ", ".join(m.name for m in module.methods) or "none"
        return [issue("unknown_method", f"{module.factory} has no public method "
                                        f"{call.method!r} (methods: {names})")]
    if not call.called and call.star_args and call.star_kwargs:
        return []  # a bare reference: the arguments are not known here
    return [issue("arity", problem) for problem in bind_problems(method, call)]


def bind_problems(method: ModuleMethod, call: ModuleCall) -> list[str]:
    """Why ``call``'s arguments would not bind to ``method``'s parameters ([] = they do)."""
    params = method.params
    positional = [p for p in params if p.kind in ("positional_only", "positional_or_keyword")]
    var_pos = any(p.kind == "var_positional" for p in params)
    var_kw = any(p.kind == "var_keyword" for p in params)
    sig = f"{method.name}({', '.join(p.name for p in params)})"
    problems: list[str] = []
    if call.positional > len(positional) and not var_pos:
        problems.append(f"{call.positional} positional arguments given, {sig} takes at most "
                        f"{len(positional)}")
    bound = {p.name for p in positional[: call.positional]}
    by_name = {p.name: p for p in params}
    for kw in call.keywords:
        p = by_name.get(kw)
        if p is None or p.kind in ("var_positional", "var_keyword"):
            if not var_kw:
                problems.append(f"unexpected keyword argument {kw!r} for {sig}")
        elif p.kind == "positional_only":
            problems.append(f"{kw!r} is positional-only in {sig}")
        elif kw in bound:
            problems.append(f"{kw!r} is given positionally and by keyword")
    given = bound | set(call.keywords)
    for i, p in enumerate(params):
        if not p.required or p.name in given:
            continue
        if p.kind in ("positional_only", "positional_or_keyword") and call.star_args:
            continue
        if p.kind in ("positional_or_keyword", "keyword_only") and call.star_kwargs:
            continue
        if p.kind == "positional_only" and i >= call.positional and call.star_args:
            continue
        problems.append(f"missing required argument {p.name!r} of {sig}")
    return problems
