"""The application object handler authors build: routes, handlers and modules.

Registration validates eagerly, so a mistake (wrong handler signature, clashing route)
fails when the app is imported, not on the first request.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from gati.core.context import GlobalContext, LocalContext
from gati.core.http import Request, Response
from gati.core.routing import Router
from gati.errors import AppError

HandlerFunc = Callable[[Request, Response, LocalContext, GlobalContext], Awaitable[None] | None]
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


def _is_async(func: Callable[..., Any]) -> bool:
    """Also true for objects whose ``__call__`` is ``async def``."""
    if inspect.iscoroutinefunction(func):
        return True
    return not inspect.isfunction(func) and inspect.iscoroutinefunction(type(func).__call__)


class App:
    """A Gati application. Build one per process; there is no global instance."""

    def __init__(self, name: str, *, config: dict[str, Any] | None = None) -> None:
        if not name or not name.replace("-", "_").isidentifier():
            raise AppError(f"app name {name!r} must be an identifier (letters, digits, - or _)")
        self.name = name
        self.config: dict[str, Any] = dict(config or {})
        self.router: Router[HandlerSpec] = Router()
        self._handlers: dict[str, HandlerSpec] = {}
        self._modules: dict[str, ModuleFactory] = {}
        # Example commands ``gati dev`` prints once serving; ``{url}`` is the base URL.
        self.try_it: list[str] = []

    @property
    def handlers(self) -> dict[str, HandlerSpec]:
        return dict(self._handlers)

    @property
    def module_factories(self) -> dict[str, ModuleFactory]:
        return dict(self._modules)

    def handler(
        self,
        method: str,
        path: str,
        *,
        handler_id: str | None = None,
        timeout_s: float | None = None,
        request: Any = None,
        response: Any = None,
    ) -> Callable[[F], F]:
        """Register ``func(req, res, lctx, gctx)`` (sync or async) for ``method`` ``path``."""
        upper = method.upper()
        if upper not in _METHODS:
            raise AppError(f"unknown HTTP method {method!r} (one of {', '.join(sorted(_METHODS))})")
        if timeout_s is not None and timeout_s <= 0:
            raise AppError(f"{upper} {path}: timeout_s must be positive, got {timeout_s}")

        def register(func: F) -> F:
            if not callable(func):
                raise AppError(f"{upper} {path}: handler {func!r} is not callable")
            _check_signature(func)
            hid = handler_id or f"{func.__module__}.{func.__qualname__}"
            if hid in self._handlers and self._handlers[hid].func is not func:
                raise AppError(f"handler id {hid!r} is registered twice")
            spec = HandlerSpec(
                handler_id=hid,
                method=upper,
                path=path,
                func=func,
                is_async=_is_async(func),
                timeout_s=timeout_s,
                request_type=request,
                response_type=response,
            )
            self.router.add(upper, path, spec)
            self._handlers[hid] = spec
            return func

        return register

    def get(self, path: str, **kw: Any) -> Callable[[F], F]:
        return self.handler("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[F], F]:
        return self.handler("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[F], F]:
        return self.handler("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[F], F]:
        return self.handler("DELETE", path, **kw)

    def module(self, name: str) -> Callable[[F], F]:
        """Register a module factory: ``factory(config) -> instance``.

        The instance may define ``async start()`` and ``async close()``; the worker calls
        them around its lifetime.
        """
        if not name.isidentifier():
            raise AppError(f"module name {name!r} must be an identifier")
        if name in self._modules:
            raise AppError(f"module {name!r} is registered twice")

        def register(factory: F) -> F:
            self._modules[name] = factory
            return factory

        return register
