"""``invoke``: call one handler function directly, with a real lctx and gctx.

No app, no routing, no hooks: the narrowest unit test of a handler's own logic. The
lctx and gctx are the real classes, over a scripted module registry, a dict of
secrets, a fixed clock and a seeded random source, so what the handler records
(effects, log lines, publications) comes back in the result.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from gati.core.context import GlobalContext, LocalContext, RequestMeta, Services
from gati.core.envelopes import Stage
from gati.core.hooks import is_async_callable
from gati.core.http import Request, Response
from gati.core.observe import Metrics
from gati.core.ports import Clock
from gati.core.scope import RequestScope
from gati.testing._clock import FixedClock
from gati.testing._requests import DEFAULT_TIMEOUT_S, make_request
from gati.testing._result import Invocation, header_map
from gati.testing._services import build_services, seeded_effects, take_misses


async def invoke(
    handler: Callable[..., Any],
    req: Request | None = None,
    *,
    modules: Mapping[str, Any] | None = None,
    state: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
    config: Mapping[str, Any] | None = None,
    clock: Clock | None = None,
    seed: int | str = 0,
    metrics: Metrics | None = None,
    flags: Mapping[str, str] | None = None,
    handler_id: str | None = None,
) -> Invocation:
    """Run ``handler(req, res, lctx, gctx)`` once and return what it sent.

    A sync handler runs in a thread, as a worker runs it. An exception the handler
    raises propagates, as in a direct call (no catch hooks, no 500 body).

    Args:
        handler: the handler function.
        req: the request (build one with ``make_request``); default ``GET /``.
        modules: module name -> dict script or module object; these are all the
            modules ``gctx.modules`` has.
        state: lctx state before the handler runs (as a before hook would leave it).
        secrets: what ``gctx.secrets.get`` finds.
        config: ``gctx.config``.
        clock: the clock behind ``lctx.now()``; default a frozen ``FixedClock``.
        seed: the seed of ``lctx.random()`` and ``lctx.uuid()``.
        metrics: ``gctx.metrics`` (default: no-op).
        flags: ``lctx.meta.flags``.
        handler_id: ``lctx.meta.handler_id``; default the function's qualified name.

    Raises:
        ScriptError: a module call the script does not cover, even if the handler
            caught it.
    """
    clock = clock if clock is not None else FixedClock()
    services = build_services(None, modules, secrets=secrets, config=config, metrics=metrics)
    request = req if req is not None else make_request()
    hid = handler_id or f"{handler.__module__}.{getattr(handler, '__qualname__', handler)}"
    scope = RequestScope(request.request_id, clock, services.redactor, handler_id=hid)
    effects = seeded_effects(seed)(scope)
    lctx = LocalContext(_meta(request, hid, clock, flags), scope, effects)
    for key, value in (state or {}).items():
        lctx.set(key, value)
    res = Response()
    scope.record(Stage.HANDLER_START)
    await _call(handler, request, res, lctx, GlobalContext(services, scope, effects), services)
    scope.record(Stage.HANDLER_END, status=res.status_code)
    final_state = {key: lctx.get(key) for key in list(lctx.keys())}
    return Invocation(
        status=res.status_code, headers=header_map(res.frozen_headers()), body=res.body,
        events=tuple(scope.events), published=tuple(scope.outbox),
        request_id=request.request_id, handler_id=hid, raw_headers=res.frozen_headers(),
        sent=res.sent, state=MappingProxyType(final_state),
    )


def _meta(request: Request, handler_id: str, clock: Clock,
          flags: Mapping[str, str] | None) -> RequestMeta:
    now = clock.now_us()
    return RequestMeta(
        request_id=request.request_id, method=request.method, path=request.path,
        handler_id=handler_id, received_at_us=now,
        deadline_at_us=now + round(DEFAULT_TIMEOUT_S * 1_000_000), flags=dict(flags or {}),
    )


async def _call(handler: Callable[..., Any], request: Request, res: Response,
                lctx: LocalContext, gctx: GlobalContext, services: Services) -> None:
    """The handler once, as a worker calls it; a script miss is raised even if caught."""
    try:
        if is_async_callable(handler):
            await handler(request, res, lctx, gctx)
        else:
            result = await asyncio.to_thread(handler, request, res, lctx, gctx)
            if asyncio.iscoroutine(result):
                await result
    except Exception as exc:
        misses = take_misses(services)
        if misses and misses[0] is not exc:
            # The handler turned the script error into its own: the script is the bug.
            raise misses[0] from exc
        raise
    finally:
        await lctx.cancel_tasks()
    misses = take_misses(services)
    if misses:
        raise misses[0]
