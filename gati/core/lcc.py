"""The Local Context Controller: hooks, handler, compensations and cleanup of a request.

    before hooks (global, route, local) -> handler -> after hooks (reverse)
    on any error:  compensations (newest first) -> catch hooks (reverse) until one answers
    always:        cleanup hooks (reverse), then outstanding tasks are cancelled

Every hook and the handler is a span and a pair of lifecycle steps. A handler timeout
cancels the handler and then takes the error path, so cleanup and catch hooks still run
and the client gets 504.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gati.core.app import App, HandlerSpec
from gati.core.context import GlobalContext, LocalContext, Snapshot
from gati.core.envelopes import Stage
from gati.core.hooks import Hook, HookKind, HookTimeout
from gati.core.http import Request, Response
from gati.core.observe import Tracer
from gati.core.scope import RequestScope
from gati.errors import GatiError
from gati.types.contract import ValidationFailed


class HandlerTimeout(GatiError):
    code = "handler_timeout"
    status = 504


@dataclass(frozen=True, slots=True)
class Failure:
    status: int
    code: str
    message: str
    detail: dict[str, Any] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    extra: dict[str, Any] | None = None


def failure_of(exc: BaseException) -> Failure:
    """How an exception answers the client: GatiErrors by their status, others 500."""
    if isinstance(exc, ValidationFailed):
        return Failure(exc.status, exc.code, exc.message, _describe(exc),
                       extra={"issues": exc.to_json()})
    if isinstance(exc, GatiError):
        status = exc.status if 400 <= exc.status < 600 else 500
        return Failure(status, exc.code, exc.message, _describe(exc),
                       headers=tuple((k.lower(), v) for k, v in exc.headers))
    # The client learns only that it failed; the record keeps what went wrong.
    return Failure(500, "internal_error", "the handler failed", _describe(exc))


def _describe(exc: BaseException) -> dict[str, Any]:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else None
    return {"type": type(exc).__name__, "message": str(exc)[:500], "at": where}


class LocalContextController:
    def __init__(self, app: App, tracer: Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def run(
        self, spec: HandlerSpec, req: Request, res: Response, lctx: LocalContext,
        gctx: GlobalContext, scope: RequestScope, handler_timeout_s: float,
        *, snapshots: str = "on_error", resume: Snapshot | None = None,
    ) -> Failure | None:
        """Run the request; None when ``res`` holds the answer, else the failure.

        ``snapshots`` is the policy (off, on_error, always); ``resume`` restores a
        recorded snapshot and continues after the hooks it had already run (replay --at).
        """
        args = (req, res, lctx, gctx)
        levels = (self.app.hooks, spec.hooks, lctx.hooks)
        failure: Failure | None = None
        always = snapshots == "always"
        if resume is not None:
            lctx.restore(resume)
        try:
            await self._before(levels, args, scope, lctx, always,
                               resume.hook_index if resume else 0)
            if always:
                lctx.snapshot("before-handler")
            if not res.sent:
                await self._handler(spec, args, scope, handler_timeout_s)
            for h in _reverse(levels, HookKind.AFTER):
                await self._hook(h, args, scope)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if snapshots in ("always", "on_error"):
                lctx.snapshot("on-error")
            failure = await self._on_error(exc, levels, args, scope, lctx)
        finally:
            for h in _reverse(levels, HookKind.CLEANUP):
                # A failing cleanup is recorded as hook_error; it must not mask the outcome.
                with contextlib.suppress(Exception):
                    await self._hook(h, args, scope)
            await lctx.cancel_tasks()
        return failure

    async def _before(self, levels: tuple[Any, ...], args: tuple[Any, ...],
                      scope: RequestScope, lctx: LocalContext, snapshot_each: bool,
                      skip: int) -> None:
        res: Response = args[1]
        seen = 0
        for level in levels:
            i = 0
            # Index loop: a before hook may register further local before hooks.
            while i < len(level.before):
                seen += 1
                if seen <= skip:  # already run before the snapshot we resume from
                    i += 1
                    continue
                await self._hook(level.before[i], args, scope)
                lctx.hook_index += 1
                i += 1
                if snapshot_each:
                    lctx.snapshot(f"after-hook-{lctx.hook_index}")
                if res.sent:  # a before hook answered: skip the rest and the handler
                    return

    async def _handler(self, spec: HandlerSpec, args: tuple[Any, ...], scope: RequestScope,
                       timeout_s: float) -> None:
        await _gate(scope, args, "before", "handler")
        scope.record(Stage.HANDLER_START)
        attrs = {"gati.request_id": scope.request_id, "gati.handler_id": spec.handler_id,
                 "gati.version": spec.version or ""}
        with self.tracer.span(f"handler {spec.handler_id}", attrs) as span:
            budget = asyncio.timeout(timeout_s)
            loop = asyncio.get_running_loop()
            scope.cut_handler = lambda: budget.reschedule(loop.time())
            try:
                async with budget:
                    await _call(spec.func, args, spec.is_async)
            except TimeoutError as exc:
                if not budget.expired():  # a TimeoutError from inside, e.g. a module's
                    span.record_error(exc, scope.scrub(str(exc)))
                    f = failure_of(exc)
                    scope.record(Stage.HANDLER_END, status=f.status, error_code=f.code)
                    raise
                shown = timeout_s if scope.recorded_budget_s is None else scope.recorded_budget_s
                cut = {"timeout_s": round(shown, 3)}
                scope.record(Stage.TIMEOUT, status=504, error_code="handler_timeout",
                             detail=cut | ({"result_withheld": True}
                                           if scope.result_withheld else {}))
                err = HandlerTimeout(f"the handler did not finish in {shown:.3f}s")
                span.record_error(err, scope.scrub(str(err)))
                scope.record(Stage.HANDLER_END, status=504, error_code=err.code)
                raise err from None
            except Exception as exc:
                span.record_error(exc, scope.scrub(str(exc)))
                scope.record(Stage.HANDLER_END, status=failure_of(exc).status,
                             error_code=failure_of(exc).code)
                raise
            finally:
                scope.cut_handler = None
        scope.record(Stage.HANDLER_END, status=args[1].status_code)
        await _gate(scope, args, "after", "handler")

    async def _on_error(self, exc: Exception, levels: tuple[Any, ...], args: tuple[Any, ...],
                        scope: RequestScope, lctx: LocalContext) -> Failure | None:
        failure = failure_of(exc)
        scope.record(Stage.FAILED, status=failure.status, error_code=failure.code,
                     detail=failure.detail)
        for name, undo in reversed(lctx.compensations):
            try:
                await _call(undo, (), None)
                scope.record(Stage.COMPENSATION, detail={"name": name, "ok": True})
            except Exception as cexc:
                scope.record(Stage.COMPENSATION, error_code="compensation_failed",
                             detail={"name": name, "ok": False, "error": _describe(cexc)})
        req, res, lctx_, gctx = args
        for h in _reverse(levels, HookKind.CATCH):
            # A catch hook answers by sending a response; the first to do so wins.
            res.reset()
            try:
                await self._hook(h, (exc, req, res, lctx_, gctx), scope)
            except Exception as hexc:
                failure = failure_of(hexc)
                continue
            if res.sent:
                return None
        res.reset()
        return failure

    async def _hook(self, h: Hook, args: tuple[Any, ...], scope: RequestScope) -> None:
        await _gate(scope, args, "before", h.hook_id.rsplit(".", 1)[-1])
        attempt = 0
        base = {"hook": h.hook_id, "level": h.level.value, "kind": h.kind.value}
        while True:
            attempt += 1
            scope.record(Stage.HOOK_START, detail={**base, "attempt": attempt})
            started = time.perf_counter()
            with self.tracer.span(f"hook {h.hook_id}",
                                  {"gati.request_id": scope.request_id,
                                   "gati.hook": h.hook_id, "gati.hook_kind": h.kind.value}) as span:
                try:
                    if h.timeout_s is None:
                        await _call(h.fn, args, h.is_async)
                    else:
                        budget = asyncio.timeout(h.timeout_s)
                        try:
                            async with budget:
                                await _call(h.fn, args, h.is_async)
                        except TimeoutError:
                            if not budget.expired():
                                raise
                            raise HookTimeout(
                                f"hook {h.hook_id} did not finish in {h.timeout_s}s") from None
                except Exception as exc:
                    span.record_error(exc, scope.scrub(str(exc)))
                    retry = attempt <= h.retries and (
                        isinstance(exc, HookTimeout) or not isinstance(exc, GatiError))
                    f = failure_of(exc)
                    scope.record(Stage.HOOK_ERROR, status=f.status, error_code=f.code,
                                 detail={**base, "attempt": attempt, "retry": retry,
                                         "error": f.detail})
                    if retry:
                        continue
                    raise
            scope.record(Stage.HOOK_END, detail={
                **base, "attempt": attempt,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3)})
            await _gate(scope, args, "after", h.hook_id.rsplit(".", 1)[-1])
            return


async def _gate(scope: RequestScope, args: tuple[Any, ...], point: str, target: str) -> None:
    """A debug gate's chance to pause here (gati/core/gates.py); args end req, res, lctx,
    gctx for every kind of hook and the handler."""
    if scope.gates is not None:
        req, lctx = args[-4], args[-2]
        await scope.gates.at(scope, req.headers, req.path, lctx, point, target)


def _reverse(levels: tuple[Any, ...], kind: HookKind) -> list[Hook]:
    ordered: list[Hook] = []
    for level in levels:
        ordered.extend(level.of(kind))
    ordered.reverse()
    return ordered


async def _call(fn: Callable[..., Any], args: tuple[Any, ...], is_async: bool | None) -> None:
    if is_async is False:
        await asyncio.to_thread(fn, *args)
        return
    result = fn(*args)
    if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
        await result
