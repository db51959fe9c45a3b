"""``build_manifest(app)``: the app's manifest, derived from its code alone."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime

from gati.core.app import App, HandlerSpec
from gati.core.hooks import Hook, HookKind, HookSet
from gati.core.timescape import Family, Version
from gati.manifest._model import (
    FORMAT,
    AppManifest,
    DeclaredError,
    HandlerManifest,
    HandlerPolicy,
    HookInfo,
    ModuleCall,
    PathParam,
    RateLimitInfo,
    SourceInfo,
    TypeRef,
    digest,
)
from gati.manifest._modules import TypeTable, describe_module
from gati.manifest._source import Facts, analyze_function

_KINDS = (HookKind.BEFORE, HookKind.AFTER, HookKind.CATCH, HookKind.CLEANUP)


def build_manifest(app: App) -> AppManifest:
    """Describe every handler version and module of ``app``.

    Pure: imports nothing, calls no handler or factory; module dependencies, statuses
    and declared errors come from static analysis of the source (see
    ``gati.manifest._source``), so they are a best-effort lower bound.

    Raises:
        AppError: a module class declares ``__gati_capabilities__`` or
            ``__gati_egress__`` as something other than strings.
    """
    table = TypeTable()
    hook_facts: dict[int, Facts] = {}
    handlers = tuple(
        _handler(app, family, version, table, hook_facts)
        for family in app.families.values()
        for version in family.versions
    )
    modules = tuple(describe_module(spec, table) for spec in app.modules.values())
    types = dict(sorted(table.types.items()))
    document = AppManifest(FORMAT, app.name, "", handlers, modules, types).to_json()
    document.pop("fingerprint")
    return AppManifest(FORMAT, app.name, digest(document), handlers, modules, types)


def contract_fingerprint(method: str, path: str, request: TypeRef | None,
                         response: TypeRef | None, hook_ids: list[str]) -> str:
    """The Timescape fingerprint: sha256 of the contract a client and the code agree on."""
    return digest({
        "method": method,
        "path": path,
        "request": request.fingerprint if request else None,
        "response": response.fingerprint if response else None,
        "hooks": hook_ids,
    })


def _hooks(app: App, spec: HandlerSpec) -> list[Hook]:
    """Global then route hooks, per kind, in the order ``before`` runs them."""
    out: list[Hook] = []
    for kind in _KINDS:
        for level in (app.hooks, spec.hooks):
            out += _of(level, kind)
    return out


def _of(hooks: HookSet, kind: HookKind) -> list[Hook]:
    return list(getattr(hooks, kind.value))


def _handler(app: App, family: Family, version: Version, table: TypeTable,
             hook_facts: dict[int, Facts]) -> HandlerManifest:
    spec: HandlerSpec = version.target
    request = table.ref(spec.request_contract.gtype) if spec.request_contract else None
    response = table.ref(spec.response_contract.gtype) if spec.response_contract else None
    hooks = _hooks(app, spec)
    facts = analyze_function(spec.func, site="handler")
    calls: list[ModuleCall] = list(facts.calls)
    errors: list[DeclaredError] = list(facts.errors)
    query = list(facts.query)
    for h in hooks:
        key = id(h)
        if key not in hook_facts:
            hook_facts[key] = analyze_function(h.fn, site=h.hook_id,
                                               catch=h.kind is HookKind.CATCH)
        hf = hook_facts[key]
        calls += hf.calls
        errors += hf.errors
        query += hf.query
    fingerprint = contract_fingerprint(family.method, family.path, request, response,
                                       [h.hook_id for h in hooks])
    return HandlerManifest(
        handler_id=family.handler_id,
        summary=_summary(spec),
        version=version.label,
        tags=tuple(version.tags),
        tsv_us=version.tsv_us,
        tsv=_iso(version.tsv_us) if version.tsv_us else None,
        method=family.method,
        path=family.path,
        path_params=_path_params(family.path),
        query_params=tuple(dict.fromkeys(query)),
        request=request,
        response=response,
        hooks=tuple(
            HookInfo(h.hook_id, h.kind.value, h.level.value, h.timeout_s, h.retries)
            for h in hooks
        ),
        policy=_handler_policy(app, spec),
        fingerprint=fingerprint,
        modules=tuple(calls),
        statuses=tuple(sorted(facts.statuses or {200})),
        errors=tuple(_dedupe(errors)),
        source=SourceInfo(
            module=getattr(spec.func, "__module__", None),
            qualname=getattr(spec.func, "__qualname__", None),
            file=facts.file,
            line=facts.line,
            analyzed=facts.analyzed,
            note=facts.note,
        ),
    )


def _summary(spec: HandlerSpec) -> str | None:
    doc = inspect.getdoc(spec.func)
    return doc.strip().splitlines()[0] if doc and doc.strip() else None


def _dedupe(errors: list[DeclaredError]) -> list[DeclaredError]:
    seen: set[tuple[int, str]] = set()
    out = []
    for e in errors:
        if (e.status, e.code) not in seen:
            seen.add((e.status, e.code))
            out.append(e)
    return sorted(out, key=lambda e: (e.status, e.code))


def _path_params(path: str) -> tuple[PathParam, ...]:
    out = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            name, _, kind = part[1:-1].partition(":")
            out.append(PathParam(name, kind or "str"))
    return tuple(out)


def _iso(tsv_us: int) -> str:
    return datetime.fromtimestamp(tsv_us / 1_000_000, tz=UTC).isoformat()


def _handler_policy(app: App, spec: HandlerSpec) -> HandlerPolicy:
    """The route's policies; ``auth`` is ``none`` where nobody can be authenticated (an
    app without JWT or API keys) unless the route requires it (then it always 401s)."""
    p = spec.policy
    rate = None if p.rate_limit is None else RateLimitInfo(
        p.rate_limit.limit, p.rate_limit.window_s, p.rate_limit.key, p.rate_limit.text)
    authenticates = app.auth.jwt is not None or bool(app.auth.api_keys)
    auth = p.effective_auth if authenticates or p.effective_auth == "required" else "none"
    return HandlerPolicy(spec.timeout_s, spec.invalid_response, auth,
                         p.roles or (), rate, p.max_body, p.idempotency)
