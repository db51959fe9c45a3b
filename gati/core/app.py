"""The application object handler authors build: routes, handlers and modules.

Registration validates eagerly, so a mistake (wrong handler signature, clashing route)
fails when the app is imported, not on the first request.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, Unpack, overload

from gati.core.effects import CallPolicy
from gati.core.evolution import assess
from gati.core.hooks import (
    Hook,
    HookKind,
    HookLevel,
    HookSet,
    as_hook,
    hook,
    is_async_callable,
)
from gati.core.http import Request, Response
from gati.core.routing import Router
from gati.core.timescape import Family, Transform, Transformer, Version, is_tag, parse_tsv
from gati.errors import AppError
from gati.policy import AuthConfig, PolicyError, PolicyOptions, RoutePolicy
from gati.types.avro_schema import root_name
from gati.types.contract import TypeContract, contract

if TYPE_CHECKING:
    from gati.core.context import GlobalContext, LocalContext

HandlerFunc = Callable[
    [Request, Response, "LocalContext", "GlobalContext"], Awaitable[None] | None
]
Subscriber = Callable[[Any, "GlobalContext"], Awaitable[None] | None]
HookArg = Hook | Callable[..., Any]
ModuleFactory = Callable[[dict[str, Any]], Any]
F = TypeVar("F", bound=Callable[..., Any])

_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    handler_id: str
    method: str
    path: str
    func: HandlerFunc
    is_async: bool
    timeout_s: float | None
    request_type: Any = None
    response_type: Any = None
    hooks: HookSet = field(default_factory=HookSet.empty)
    version: str | None = None
    request_contract: TypeContract | None = None
    response_contract: TypeContract | None = None
    snapshots: str | None = None
    # A response that breaks its contract: "error" answers 500 response_invalid; "warn"
    # sends it and records a warning step (for migrating handlers onto a contract).
    invalid_response: str = "error"
    # Auth, roles, rate limit, body cap, idempotency: the route's over the app's.
    policy: RoutePolicy = field(default_factory=RoutePolicy)


@dataclass(frozen=True, slots=True)
class ModuleSpec:
    name: str
    factory: ModuleFactory
    policy: CallPolicy


@dataclass(frozen=True, slots=True)
class SubscriberSpec:
    topic: str
    func: Subscriber
    subscriber_id: str


def _check_signature(func: Callable[..., Any]) -> None:
    name = getattr(func, "__qualname__", repr(func))
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        raise AppError(f"handler {name}: cannot read its signature") from None
    positional = [
        p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    required_kw = [
        p for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY and p.default is p.empty
    ]
    has_varargs = any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values())
    if required_kw:
        raise AppError(
            f"handler {name}: keyword-only parameters {[p.name for p in required_kw]} "
            "cannot be supplied; a handler is called as handler(req, res, lctx, gctx)"
        )
    if len(positional) != 4 and not (has_varargs and len(positional) < 4):
        raise AppError(
            f"handler {name} takes {len(positional)} positional parameters "
            f"({', '.join(p.name for p in positional) or 'none'}); "
            "a handler must take exactly (req, res, lctx, gctx)"
        )


def _check_invalid_response(value: str, where: str) -> None:
    if value not in ("error", "warn"):
        raise AppError(f"{where}: invalid_response must be 'error' or 'warn', got {value!r}")


def check_snapshot_policy(policy: str, where: str) -> None:
    """off, on_error, always, or sampled:<rate in 0..1>."""
    if policy in ("off", "on_error", "always"):
        return
    if policy.startswith("sampled:"):
        try:
            rate = float(policy.split(":", 1)[1])
        except ValueError:
            rate = -1.0
        if 0.0 <= rate <= 1.0:
            return
    raise AppError(f"{where}: snapshot policy {policy!r} must be off, on_error, always or "
                   "sampled:<rate between 0 and 1>")


def _check_route_options(
    method: str, where: str, *, version: str | None, tags: tuple[str, ...] | list[str],
    timeout_s: float | None, snapshots: str | None, invalid_response: str | None,
) -> int:
    """Every option of a route that can be checked before its handler is known.

    Returns:
        The version's Timescape value (0 for an unversioned route).

    Raises:
        AppError: naming the route and the option.
    """
    if invalid_response is not None:
        _check_invalid_response(invalid_response, where)
    if snapshots is not None:
        check_snapshot_policy(snapshots, where)
    try:
        tsv = 0 if version is None else parse_tsv(version)
    except ValueError:
        raise AppError(f"{where}: version {version!r} is not a date "
                       "(YYYY-MM-DD) or ISO 8601 date-time") from None
    for tag in tags:
        if not is_tag(tag):
            raise AppError(f"{where}: tag {tag!r} must start with a letter and use "
                           "letters, digits, '.', '_' or '-'")
    if method.upper() not in _METHODS:
        raise AppError(f"unknown HTTP method {method!r} (one of {', '.join(sorted(_METHODS))})")
    if timeout_s is not None and timeout_s <= 0:
        raise AppError(f"{where}: timeout_s must be positive, got {timeout_s}")
    return tsv


def _route_hooks(*, before: list[HookArg], after: list[HookArg], catch: list[HookArg],
                 cleanup: list[HookArg]) -> HookSet:
    """A route's own hooks, each as a ``Hook`` of its kind at route level."""
    hooks = HookSet.empty()
    for kind, items in ((HookKind.BEFORE, before), (HookKind.AFTER, after),
                        (HookKind.CATCH, catch), (HookKind.CLEANUP, cleanup)):
        for item in items:
            hooks.add(as_hook(item, kind, HookLevel.ROUTE))
    return hooks


class App:
    """A Gati application. Build one per process; there is no global instance."""

    def __init__(self, name: str, *, config: dict[str, Any] | None = None,
                 invalid_response: str = "error", auth: AuthConfig | None = None) -> None:
        """``auth``: how gateways authenticate callers, and the app-wide route policy."""
        if not name or not name.replace("-", "_").isidentifier():
            raise AppError(f"app name {name!r} must be an identifier (letters, digits, - or _)")
        _check_invalid_response(invalid_response, f"app {name!r}")
        self.name = name
        self.invalid_response = invalid_response
        self.auth = auth or AuthConfig()
        self.config: dict[str, Any] = dict(config or {})
        self.router: Router[Family] = Router()
        self.families: dict[str, Family] = {}
        self._modules: dict[str, ModuleSpec] = {}
        self._subscribers: list[SubscriberSpec] = []
        self.hooks = HookSet.empty()
        # Example commands ``gati dev`` prints once serving; ``{url}`` is the base URL.
        self.try_it: list[str] = []

    @property
    def handlers(self) -> dict[str, HandlerSpec]:
        """Handler id -> its latest version's spec."""
        return {hid: fam.latest.target for hid, fam in self.families.items()}

    @property
    def modules(self) -> dict[str, ModuleSpec]:
        return dict(self._modules)

    @property
    def subscribers(self) -> list[SubscriberSpec]:
        return list(self._subscribers)

    def handler(
        self,
        method: str,
        path: str,
        *,
        handler_id: str | None = None,
        timeout_s: float | None = None,
        request: Any = None,
        response: Any = None,
        before: list[HookArg] = (),  # type: ignore[assignment]
        after: list[HookArg] = (),  # type: ignore[assignment]
        catch: list[HookArg] = (),  # type: ignore[assignment]
        cleanup: list[HookArg] = (),  # type: ignore[assignment]
        version: str | None = None,
        tags: tuple[str, ...] | list[str] = (),
        snapshots: str | None = None,
        invalid_response: str | None = None,
        **policy: Unpack[PolicyOptions],
    ) -> Callable[[F], F]:
        """Register ``func(req, res, lctx, gctx)`` (sync or async) for ``method`` ``path``.

        ``before``/``after``/``catch``/``cleanup`` are this route's hooks (functions or
        ``gati.hook(fn, timeout_s=..., retries=...)``). ``version`` (a date or ISO date-time)
        and ``tags`` make this one version of the route's handler: registering the same
        method and path again with another version adds a version instead of clashing.
        ``invalid_response`` ("error" or "warn", default the app's) decides what a
        response that breaks the ``response`` contract gets: 500, or sent with a warning.
        ``auth``, ``roles``, ``rate_limit``, ``max_body``, ``idempotency``: the route's
        policies (``gati.policy.RoutePolicy``), over the app's ``AuthConfig.policy``.
        """
        upper = method.upper()
        where = f"{upper} {path}"
        tsv = _check_route_options(method, where, version=version, tags=tags,
                                   timeout_s=timeout_s, snapshots=snapshots,
                                   invalid_response=invalid_response)
        route_hooks = _route_hooks(before=before, after=after, catch=catch, cleanup=cleanup)
        label = version or "initial"
        route_policy = self._route_policy(where, timeout_s, policy)

        def register(func: F) -> F:
            family, hid = self._family_for(upper, path, func, handler_id)
            req_contract, res_contract = self._contracts(hid, request, response)
            spec = HandlerSpec(
                handler_id=hid, method=upper, path=path, func=func,
                is_async=is_async_callable(func), timeout_s=timeout_s,
                request_type=request, response_type=response, hooks=route_hooks,
                version=label, request_contract=req_contract, response_contract=res_contract,
                snapshots=snapshots, invalid_response=invalid_response or self.invalid_response,
                policy=route_policy,
            )
            if family is None:
                family = Family(hid, upper, path)
                self.router.add(upper, path, family)
                self.families[hid] = family
            family.add(Version(label, tsv, tuple(tags), spec))
            return func

        return register

    def _route_policy(self, where: str, timeout_s: float | None,
                      options: PolicyOptions) -> RoutePolicy:
        """The route's policies over the app's, checked now (a typo fails at import)."""
        try:
            own = RoutePolicy.of(timeout_s=timeout_s, **options)
        except (PolicyError, TypeError) as exc:
            raise AppError(f"{where}: {exc}") from None
        return own.over(self.auth.policy)

    def _family_for(self, method: str, path: str, func: Callable[..., Any],
                    handler_id: str | None) -> tuple[Family | None, str]:
        """The route's family (None: its first version) and the handler id it goes by.

        Raises:
            AppError: ``func`` is no handler, or its id clashes with the route's or
                another handler's.
        """
        if not callable(func):
            raise AppError(f"{method} {path}: handler {func!r} is not callable")
        _check_signature(func)
        existing = self.router.find(method, path)
        family = existing.target if existing is not None else None
        hid = handler_id or (family.handler_id if family else
                             f"{func.__module__}.{func.__qualname__}")
        if family is not None and hid != family.handler_id:
            raise AppError(f"{method} {path} is handler {family.handler_id!r}; a new version "
                           f"cannot be named {hid!r}")
        if family is None and hid in self.families:
            raise AppError(f"handler id {hid!r} is registered twice")
        return family, hid

    def _contracts(self, hid: str, request: Any,
                   response: Any) -> tuple[TypeContract | None, TypeContract | None]:
        """The request and response contracts, compiled now: a bad type fails at import,
        and each request pays only for the generated validator.

        Named as ``gati schemas`` names them, so a typed body's wire schema is the very
        schema that command registers (one id for both).
        """
        short = hid.rsplit(".", 1)[-1]
        req = None if request is None else contract(
            request, app=self.name, handler=short, name=root_name(short, "request"))
        res = None if response is None else contract(
            response, app=self.name, handler=short, name=root_name(short, "response"))
        return req, res

    def transformer(
        self, handler_id: str, older: str, newer: str, *,
        request_up: Transform | None = None, response_down: Transform | None = None,
        request_down: Transform | None = None, response_up: Transform | None = None,
        lossless: bool = False,
    ) -> None:
        """Declare how bodies change between two adjacent versions of ``handler_id``.

        ``request_up`` turns an ``older`` request body into a ``newer`` one and
        ``response_down`` turns a ``newer`` response body back; chains of these carry an
        old client to any later version. ``lossless`` declares that up then down returns
        the original (tested as a property).
        """
        family = self.families.get(handler_id)
        if family is None:
            raise AppError(f"transformer for unknown handler {handler_id!r} "
                           f"(handlers: {', '.join(sorted(self.families)) or 'none'})")
        family.add_transformer(Transformer(older, newer, request_up, response_down,
                                           request_down, response_up, lossless))

    def validate(self) -> None:
        """Checks that need the whole app: every transformer chain is complete.

        Raises:
            AppError: naming each missing link.
        """
        problems = [f"{fam.handler_id}: no transformer for {link}"
                    for fam in self.families.values() for link in fam.missing_links()]
        if problems:
            raise AppError("; ".join(problems))
        for fam in self.families.values():
            fam.breaking = {a.version: a.breaking for a in assess(self.name, fam)}

    def get(self, path: str, **kw: Any) -> Callable[[F], F]:
        return self.handler("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[F], F]:
        return self.handler("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[F], F]:
        return self.handler("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[F], F]:
        return self.handler("DELETE", path, **kw)

    def module(
        self, name: str, *, timeout_s: float | None = 10.0, retries: int = 0,
        retry_on: tuple[type[BaseException], ...] = (TimeoutError, ConnectionError),
        journal: bool = True,
    ) -> Callable[[F], F]:
        """Register a module factory: ``factory(config) -> instance``.

        The instance may define ``async start()`` and ``async close()``; the worker calls
        them around its lifetime. Each method call a handler makes through
        ``gctx.modules.<name>`` is bounded by ``timeout_s``, retried ``retries`` times on
        ``retry_on`` errors, and recorded as an effect. ``journal=False`` (for a module
        whose calls change nothing) skips the log write that makes each call durable
        before the handler sees its result: a resumed request simply calls it again.
        """
        if not name.isidentifier():
            raise AppError(f"module name {name!r} must be an identifier")
        if name in self._modules:
            raise AppError(f"module {name!r} is registered twice")
        if timeout_s is not None and timeout_s <= 0:
            raise AppError(f"module {name!r}: timeout_s must be positive")
        if retries < 0:
            raise AppError(f"module {name!r}: retries must not be negative")
        policy = CallPolicy(timeout_s=timeout_s, retries=retries, retry_on=retry_on,
                            journal=journal)

        def register(factory: F) -> F:
            self._modules[name] = ModuleSpec(name, factory, policy)
            return factory

        return register

    @overload
    def before(self, fn: F) -> F: ...
    @overload
    def before(self, *, timeout_s: float | None = None, retries: int = 0) -> Callable[[F], F]: ...
    def before(self, fn: Any = None, *, timeout_s: float | None = None, retries: int = 0) -> Any:
        """Global before hook ``(req, res, lctx, gctx)``: runs first, for every request."""
        return self._global_hook(HookKind.BEFORE, fn, timeout_s, retries)

    @overload
    def after(self, fn: F) -> F: ...
    @overload
    def after(self, *, timeout_s: float | None = None, retries: int = 0) -> Callable[[F], F]: ...
    def after(self, fn: Any = None, *, timeout_s: float | None = None, retries: int = 0) -> Any:
        """Global after hook: runs last, after route and local after hooks."""
        return self._global_hook(HookKind.AFTER, fn, timeout_s, retries)

    @overload
    def catch(self, fn: F) -> F: ...
    @overload
    def catch(self, *, timeout_s: float | None = None, retries: int = 0) -> Callable[[F], F]: ...
    def catch(self, fn: Any = None, *, timeout_s: float | None = None, retries: int = 0) -> Any:
        """Global catch hook ``(err, req, res, lctx, gctx)``; answering ``res`` handles it."""
        return self._global_hook(HookKind.CATCH, fn, timeout_s, retries)

    @overload
    def cleanup(self, fn: F) -> F: ...
    @overload
    def cleanup(self, *, timeout_s: float | None = None, retries: int = 0) -> Callable[[F], F]: ...
    def cleanup(self, fn: Any = None, *, timeout_s: float | None = None, retries: int = 0) -> Any:
        """Global cleanup hook: runs at the end of every request, success or not."""
        return self._global_hook(HookKind.CLEANUP, fn, timeout_s, retries)

    def _global_hook(self, kind: HookKind, fn: Any, timeout_s: float | None,
                     retries: int) -> Any:
        def register(f: F) -> F:
            self.hooks.add(as_hook(hook(f, timeout_s=timeout_s, retries=retries), kind,
                                   HookLevel.GLOBAL))
            return f

        return register(fn) if fn is not None else register

    def subscribe(self, topic: str) -> Callable[[F], F]:
        """Consume ``gati.events.<topic>``: ``fn(payload, gctx)``, sync or async."""
        if not topic or not all(c.isalnum() or c in "._-" for c in topic):
            raise AppError(f"event topic {topic!r} may only contain letters, digits, . _ -")

        def register(fn: F) -> F:
            sid = f"{fn.__module__}.{fn.__qualname__}"
            self._subscribers.append(SubscriberSpec(topic, fn, sid))
            return fn

        return register
