"""Static analysis of handler and hook source: what it calls, answers and raises.

Best effort, by design: it reads the function's own source with ``ast`` and never runs
it. It finds

- module calls: ``gctx.modules.<name>.<method>(...)``, also through an alias
  (``db = gctx.modules.db``, ``mods = gctx.modules``, ``gctx.modules.get("db")``), and
  references such as ``lctx.compensate(gctx.modules.db.delete_user, user_id)``;
- success statuses: literal ``res.status(201)``, ``res.empty()`` (204), ``res.redirect``;
- declared errors: ``raise RequestError(..., status=409, code="taken")`` and raises of
  other ``GatiError`` classes, also in helper functions of the same module it calls;
- query parameters: ``req.query_one("limit")``, ``req.query.get("x")``, ``req.query["x"]``.

It does not follow calls into other modules, dynamic attribute access
(``getattr(gctx.modules, name)``), or values computed at run time; a function without
source (a lambda in an expression, a builtin, a C extension) is reported unanalyzed.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gati.errors import GatiError
from gati.manifest._model import DeclaredError, ModuleCall

_BODY_CALLS = ("json", "text", "bytes")
_MAX_HELPER_DEPTH = 3


@dataclass(slots=True)
class Facts:
    """What one function's source shows."""

    analyzed: bool
    file: str | None = None
    line: int | None = None
    note: str | None = None
    calls: list[ModuleCall] = field(default_factory=list)
    statuses: set[int] = field(default_factory=set)
    errors: list[DeclaredError] = field(default_factory=list)
    query: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Parsed:
    node: ast.FunctionDef | ast.AsyncFunctionDef
    first_line: int
    file: str | None
    func: Any  # the function whose source this is (``__call__`` of a callable object)


def _parse(fn: Callable[..., Any]) -> _Parsed | str:
    """The function's AST, or why it cannot be had."""
    target = inspect.unwrap(fn)
    if not (inspect.isfunction(target) or inspect.ismethod(target)):
        call = getattr(type(target), "__call__", None)  # noqa: B004 - a callable object
        if call is None or not inspect.isfunction(call):
            return f"{type(target).__name__} object: no Python source"
        target = call
    try:
        lines, first = inspect.getsourcelines(target)
        file = _relative(inspect.getsourcefile(target), getattr(target, "__module__", None))
    except (OSError, TypeError) as exc:
        return f"no source: {exc}"
    try:
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except SyntaxError:
        return "source is not a standalone definition (a lambda?)"
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return _Parsed(node, first, file, target)
    return "source is not a function definition (a lambda?)"


def _relative(file: str | None, module: str | None) -> str | None:
    """``pkg/mod.py`` for module ``pkg.mod``: the same on every machine and checkout."""
    if file is None:
        return None
    path = Path(file)
    if module:
        parts = module.split(".")
        for candidate in (Path(*parts).with_suffix(".py"), Path(*parts, "__init__.py")):
            if path.parts[-len(candidate.parts):] == candidate.parts:
                return candidate.as_posix()
    return path.name


def _positional_names(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    return [a.arg for a in (*node.args.posonlyargs, *node.args.args)]


def analyze_function(fn: Callable[..., Any], *, site: str, catch: bool = False) -> Facts:
    """Facts about ``fn``, a handler ``(req, res, lctx, gctx)`` or a hook.

    ``catch`` hooks take ``(err, req, res, lctx, gctx)``; parameters are found by
    position, so they may be named anything.
    """
    parsed = _parse(fn)
    if isinstance(parsed, str):
        return Facts(analyzed=False, note=parsed)
    names = _positional_names(parsed.node)
    target = inspect.unwrap(fn)
    if not inspect.isfunction(target) and names and names[0] == "self":
        names = names[1:]
    offset = 1 if catch else 0
    role = {"req": 0 + offset, "res": 1 + offset, "gctx": 3 + offset}
    named = {k: names[i] if i < len(names) else None for k, i in role.items()}
    facts = Facts(analyzed=True, file=parsed.file, line=parsed.first_line)
    globals_ = getattr(parsed.func, "__globals__", {})
    module = getattr(parsed.func, "__module__", None)
    visitor = _Visitor(named["req"], named["res"], named["gctx"], site, parsed.first_line - 1,
                       _Helpers(globals_, module))
    visitor.run(parsed.node)
    facts.calls = visitor.calls
    facts.query = list(dict.fromkeys(visitor.query))
    facts.statuses = visitor.statuses
    if not visitor.status_seen and visitor.body_seen:
        facts.statuses.add(200)
    if visitor.dynamic_status:
        facts.note = "a status is computed at run time"
    facts.errors = _errors(parsed.node, globals_, site, module, seen=set(), depth=0)
    return facts


@dataclass(slots=True)
class _Helpers:
    """Where helper functions are looked up, and which were followed already."""

    globals_: dict[str, Any]
    module: str | None
    seen: set[int] = field(default_factory=set)
    depth: int = 0


class _Visitor:
    def __init__(self, req: str | None, res: str | None, gctx: str | None, site: str,
                 line_offset: int, helpers: _Helpers) -> None:
        self.req, self.res, self.gctx = req, res, gctx
        self.helpers = helpers
        self.site = site
        self.offset = line_offset
        self.module_aliases: dict[str, str] = {}  # local name -> module name
        self.registry_aliases: set[str] = set()  # local names bound to gctx.modules
        self.calls: list[ModuleCall] = []
        self.query: list[str] = []
        self.statuses: set[int] = set()
        self.status_seen = False
        self.body_seen = False
        self.dynamic_status = False
        self.compensations: list[ast.Call] = []

    def run(self, root: ast.AST) -> None:
        nodes = list(ast.walk(root))
        for node in nodes:  # aliases first, wherever they are bound
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                self._alias(node.targets[0], node.value)
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                self._alias(node.target, node.value)
        self.compensations = [
            n for n in nodes
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and n.func.attr == "compensate"
        ]
        called_funcs: set[int] = set()
        for node in nodes:
            if isinstance(node, ast.Call):
                called_funcs.add(id(node.func))
                self._call(node)
            elif isinstance(node, ast.Subscript):
                self._subscript(node)
            elif isinstance(node, ast.Compare):
                self._contains(node)
        for node in nodes:
            if isinstance(node, ast.Attribute) and id(node) not in called_funcs:
                module = self._module_of(node.value)
                if module is not None:
                    self._reference(node, module)

    # -- names ----------------------------------------------------------------------

    def _is_registry(self, expr: ast.expr) -> bool:
        if isinstance(expr, ast.Name):
            return expr.id in self.registry_aliases
        return (
            isinstance(expr, ast.Attribute)
            and expr.attr == "modules"
            and isinstance(expr.value, ast.Name)
            and self.gctx is not None
            and expr.value.id == self.gctx
        )

    def _module_of(self, expr: ast.expr) -> str | None:
        """The module name an expression denotes, if it denotes one."""
        if isinstance(expr, ast.Name):
            return self.module_aliases.get(expr.id)
        if isinstance(expr, ast.Attribute) and self._is_registry(expr.value):
            return None if expr.attr in ("get", "names") else expr.attr
        if (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Attribute)
            and expr.func.attr == "get"
            and self._is_registry(expr.func.value)
            and expr.args
            and isinstance(expr.args[0], ast.Constant)
            and isinstance(expr.args[0].value, str)
        ):
            return expr.args[0].value
        return None

    def _alias(self, target: ast.expr, value: ast.expr) -> None:
        if not isinstance(target, ast.Name):
            return
        if self._is_registry(value):
            self.registry_aliases.add(target.id)
            return
        module = self._module_of(value)
        if module is not None:
            self.module_aliases[target.id] = module

    def _is(self, expr: ast.expr, name: str | None) -> bool:
        return name is not None and isinstance(expr, ast.Name) and expr.id == name

    def _line(self, node: ast.AST) -> int | None:
        lineno = getattr(node, "lineno", None)
        return None if lineno is None else lineno + self.offset

    # -- nodes ----------------------------------------------------------------------

    def _call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name):
            self._helper(node, func.id)
            return
        if not isinstance(func, ast.Attribute):
            return
        module = self._module_of(func.value)
        if module is not None:
            self.calls.append(self._record(module, func.attr, node, node.args, node.keywords,
                                           called=True))
            return
        if self._is(func.value, self.res):
            self._response_call(func.attr, node)
        elif (self._is(func.value, self.req) and func.attr == "query_one") or (
            func.attr == "get"
            and isinstance(func.value, ast.Attribute)
            and func.value.attr == "query"
            and self._is(func.value.value, self.req)
        ):
            self._query_name(node.args[0] if node.args else None)

    def _helper(self, node: ast.Call, name: str) -> None:
        """Follow a same-module helper that is handed ``req``, ``res`` or ``gctx``."""
        h = self.helpers
        fn = h.globals_.get(name)
        if (
            not inspect.isfunction(fn)
            or fn.__module__ != h.module
            or id(fn) in h.seen
            or h.depth >= _MAX_HELPER_DEPTH
        ):
            return
        passed: list[tuple[int | str, ast.expr]] = [(i, a) for i, a in enumerate(node.args)]
        passed += [(k.arg, k.value) for k in node.keywords if k.arg is not None]
        if not any(self._role(expr) for _, expr in passed):
            return
        parsed = _parse(fn)
        if isinstance(parsed, str):
            return
        names = _positional_names(parsed.node)
        roles: dict[str, str | None] = {"req": None, "res": None, "gctx": None}
        registries: set[str] = set()
        modules: dict[str, str] = {}
        for where, expr in passed:
            param = where if isinstance(where, str) else (
                names[where] if where < len(names) else None)
            role = self._role(expr)
            if param is None or role is None:
                continue
            if role in roles:
                roles[role] = param
            elif role == "registry":
                registries.add(param)
            else:
                modules[param] = role.removeprefix("module:")
        h.seen.add(id(fn))
        sub = _Visitor(roles["req"], roles["res"], roles["gctx"], self.site,
                       parsed.first_line - 1,
                       _Helpers(fn.__globals__, h.module, h.seen, h.depth + 1))
        sub.registry_aliases |= registries
        sub.module_aliases.update(modules)
        sub.run(parsed.node)
        self.calls += sub.calls
        self.query += sub.query
        self.statuses |= sub.statuses
        self.status_seen = self.status_seen or sub.status_seen
        self.body_seen = self.body_seen or sub.body_seen
        self.dynamic_status = self.dynamic_status or sub.dynamic_status

    def _role(self, expr: ast.expr) -> str | None:
        """What an argument passes along: req, res, gctx, the registry or a module."""
        if isinstance(expr, ast.Name):
            for role, name in (("req", self.req), ("res", self.res), ("gctx", self.gctx)):
                if name is not None and expr.id == name:
                    return role
            if expr.id in self.registry_aliases:
                return "registry"
        if self._is_registry(expr):
            return "registry"
        module = self._module_of(expr)
        return None if module is None else f"module:{module}"

    def _record(self, module: str, method: str, node: ast.AST, args: list[ast.expr],
                keywords: list[ast.keyword], *, called: bool) -> ModuleCall:
        return ModuleCall(
            module=module,
            method=method,
            site=self.site,
            line=self._line(node),
            called=called,
            positional=sum(1 for a in args if not isinstance(a, ast.Starred)),
            keywords=tuple(k.arg for k in keywords if k.arg is not None),
            star_args=any(isinstance(a, ast.Starred) for a in args),
            star_kwargs=any(k.arg is None for k in keywords),
        )

    def _reference(self, node: ast.Attribute, module: str) -> None:
        # ``lctx.compensate(gctx.modules.db.delete_user, uid, name="x")`` calls it later
        # with the arguments after it; ``name`` is compensate's own keyword.
        parent = self._compensate_parent(node)
        if parent is not None:
            keywords = [k for k in parent.keywords if k.arg != "name"]
            self.calls.append(self._record(module, node.attr, node, parent.args[1:], keywords,
                                           called=False))
        else:
            self.calls.append(ModuleCall(module, node.attr, self.site, self._line(node), False,
                                         0, (), True, True))

    def _compensate_parent(self, node: ast.Attribute) -> ast.Call | None:
        for call in self.compensations:
            if call.args and call.args[0] is node:
                return call
        return None

    def _response_call(self, attr: str, node: ast.Call) -> None:
        if attr == "status":
            self.status_seen = True
            status = _int_arg(node, 0, "code")
            if status is None:
                self.dynamic_status = True
            else:
                self.statuses.add(status)
        elif attr == "empty":
            status = _int_arg(node, 0, "status")
            if node.args or node.keywords:
                if status is None:
                    self.dynamic_status = True
                else:
                    self.statuses.add(status)
            else:
                self.statuses.add(204)
        elif attr == "redirect":
            has = len(node.args) > 1 or any(k.arg == "status" for k in node.keywords)
            status = _int_arg(node, 1, "status") if has else 307
            if status is None:
                self.dynamic_status = True
            else:
                self.statuses.add(status)
        elif attr in _BODY_CALLS:
            self.body_seen = True

    def _subscript(self, node: ast.Subscript) -> None:
        value = node.value
        if (
            isinstance(value, ast.Attribute)
            and value.attr == "query"
            and self._is(value.value, self.req)
        ):
            self._query_name(node.slice)

    def _contains(self, node: ast.Compare) -> None:
        if len(node.ops) == 1 and isinstance(node.ops[0], ast.In | ast.NotIn):
            right = node.comparators[0]
            if (
                isinstance(right, ast.Attribute)
                and right.attr == "query"
                and self._is(right.value, self.req)
            ):
                self._query_name(node.left)

    def _query_name(self, expr: ast.expr | None) -> None:
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            self.query.append(expr.value)


def _int_arg(node: ast.Call, index: int, keyword: str) -> int | None:
    expr: ast.expr | None = node.args[index] if len(node.args) > index else None
    for k in node.keywords:
        if k.arg == keyword:
            expr = k.value
    if isinstance(expr, ast.Constant) and type(expr.value) is int:
        return expr.value
    return None


def _str_kw(node: ast.Call, keyword: str) -> str | None:
    for k in node.keywords:
        if k.arg == keyword and isinstance(k.value, ast.Constant):
            return k.value.value if isinstance(k.value.value, str) else None
    return None


def _kw_int(node: ast.Call, keyword: str) -> int | None:
    for k in node.keywords:
        if k.arg == keyword and isinstance(k.value, ast.Constant) and type(k.value.value) is int:
            return k.value.value
    return None


def _resolve(expr: ast.expr, globals_: dict[str, Any]) -> Any:
    if isinstance(expr, ast.Name):
        return globals_.get(expr.id, getattr(builtins, expr.id, None))
    if isinstance(expr, ast.Attribute):
        base = _resolve(expr.value, globals_)
        return getattr(base, expr.attr, None) if base is not None else None
    return None


def _error_class(obj: Any) -> type[GatiError] | None:
    return obj if isinstance(obj, type) and issubclass(obj, GatiError) else None


def _init_defaults(cls: type[GatiError]) -> tuple[int | None, str | None]:
    """Status and code a subclass passes to ``super().__init__`` with literals, if any."""
    init = cls.__dict__.get("__init__")
    if init is None:
        return None, None
    parsed = _parse(init)
    if isinstance(parsed, str):
        return None, None
    for node in ast.walk(parsed.node):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "__init__"
        ):
            return _kw_int(node, "status"), _str_kw(node, "code")
    return None, None


def _errors(root: ast.AST, globals_: dict[str, Any], site: str, module: str | None, *,
            seen: set[int], depth: int) -> list[DeclaredError]:
    found: list[DeclaredError] = []
    for node in ast.walk(root):
        if isinstance(node, ast.Raise) and node.exc is not None:
            error = _raised(node.exc, globals_, site)
            if error is not None:
                found.append(error)
        elif isinstance(node, ast.Call) and depth < _MAX_HELPER_DEPTH:
            helper = _resolve(node.func, globals_) if isinstance(node.func, ast.Name) else None
            if (
                inspect.isfunction(helper)
                and helper.__module__ == module
                and id(helper) not in seen
            ):
                seen.add(id(helper))
                parsed = _parse(helper)
                if not isinstance(parsed, str):
                    found += _errors(parsed.node, helper.__globals__, site, module,
                                     seen=seen, depth=depth + 1)
    return found


def _raised(exc: ast.expr, globals_: dict[str, Any], site: str) -> DeclaredError | None:
    call = exc if isinstance(exc, ast.Call) else None
    cls = _error_class(_resolve(call.func if call is not None else exc, globals_))
    if cls is None:
        return None
    status, code = _init_defaults(cls)
    if call is not None:
        if any(k.arg == "status" for k in call.keywords):
            status = _kw_int(call, "status")
            if status is None:
                return None  # computed at run time: unknown
        code = _str_kw(call, "code") or code
    status = status if status is not None else int(cls.status)
    return DeclaredError(status=status, code=code or str(cls.code), site=site)
