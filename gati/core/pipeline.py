"""What a worker does with one RequestEnvelope: route, parse, run the handler, answer.

Pure apart from calling the handler: the caller supplies the clock and sends the outcome
(the response and the lifecycle events) wherever its backend needs. Every way a request
can end produces exactly one ``responded`` event, so "what happened to request X" always
has an answer in the record.
"""

from __future__ import annotations

import asyncio
import json
import traceback
from dataclasses import dataclass

from gati.core.app import App, HandlerSpec
from gati.core.context import GlobalContext, LocalContext, RequestMeta
from gati.core.envelopes import (
    LifecycleEvent,
    RequestEnvelope,
    ResponseEnvelope,
    Stage,
    Trace,
)
from gati.core.http import Request, Response, error_body
from gati.core.ports import Clock
from gati.core.routing import Match
from gati.errors import GatiError, MethodNotAllowed, RoutingError

_JSON = (("content-type", "application/json"),)
_DETAIL_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class Outcome:
    response: ResponseEnvelope
    events: tuple[LifecycleEvent, ...]


@dataclass(frozen=True, slots=True)
class _Failure:
    status: int
    code: str
    message: str
    detail: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


class Pipeline:
    def __init__(
        self, app: App, gctx: GlobalContext, *, clock: Clock, worker_id: str | None = None
    ) -> None:
        self.app = app
        self.gctx = gctx
        self.clock = clock
        self.worker_id = worker_id

    async def process(self, env: RequestEnvelope) -> Outcome:
        trace = Trace(env.request_id, worker_id=self.worker_id)
        trace.add(
            Stage.RECEIVED,
            self.clock.now_us(),
            detail=_json({"method": env.method, "path": env.path, "gateway": env.gateway_id}),
        )
        if env.rejection is not None:
            rej = env.rejection
            trace.add(Stage.REJECTED, self.clock.now_us(), status=rej.status, error_code=rej.code)
            return self._fail(env, trace, None, _Failure(rej.status, rej.code, rej.message))
        if self.clock.now_us() > env.deadline_at_us:
            trace.add(
                Stage.EXPIRED, self.clock.now_us(), status=504, error_code="deadline_exceeded"
            )
            failure = _Failure(
                504, "deadline_exceeded", "the request expired before it was handled"
            )
            return self._fail(env, trace, None, failure)
        try:
            match: Match[HandlerSpec] = self.app.router.match(env.method, env.path)
        except MethodNotAllowed as exc:
            allow = (("allow", ", ".join(exc.allowed)),)
            return self._fail(env, trace, None, _Failure(405, exc.code, exc.message, headers=allow))
        except RoutingError as exc:
            return self._fail(env, trace, None, _Failure(404, exc.code, exc.message))
        spec = match.route.target
        trace.add(
            Stage.ROUTED,
            self.clock.now_us(),
            handler_id=spec.handler_id,
            detail=_json({"pattern": spec.path, "params": match.params}),
        )
        try:
            req = Request.from_envelope(env, match.params)
        except GatiError as exc:
            return self._fail(env, trace, spec, _Failure(exc.status, exc.code, exc.message))
        return await self._run_handler(env, trace, spec, req)

    async def _run_handler(
        self, env: RequestEnvelope, trace: Trace, spec: HandlerSpec, req: Request
    ) -> Outcome:
        res = Response()
        meta = RequestMeta(
            request_id=env.request_id,
            method=env.method,
            path=env.path,
            handler_id=spec.handler_id,
            received_at_us=env.received_at_us,
            deadline_at_us=env.deadline_at_us,
        )
        lctx = LocalContext(meta)
        remaining = max(0.0, (env.deadline_at_us - self.clock.now_us()) / 1e6)
        timeout = remaining if spec.timeout_s is None else min(spec.timeout_s, remaining)
        trace.add(Stage.HANDLER_START, self.clock.now_us(), handler_id=spec.handler_id)
        try:
            async with asyncio.timeout(timeout):
                if spec.is_async:
                    await spec.func(req, res, lctx, self.gctx)  # type: ignore[misc]
                else:
                    await asyncio.to_thread(spec.func, req, res, lctx, self.gctx)
        except TimeoutError:
            failure = _Failure(
                504, "handler_timeout", f"the handler did not finish in {timeout:.3f}s"
            )
            return self._handler_failed(env, trace, spec, failure)
        except GatiError as exc:
            status = exc.status if 400 <= exc.status < 600 else 500
            failure = _Failure(status, exc.code, exc.message, detail=_exc_detail(exc))
            return self._handler_failed(env, trace, spec, failure)
        except Exception as exc:
            # The client learns only that it failed; the record keeps what went wrong.
            failure = _Failure(500, "internal_error", "the handler failed", _exc_detail(exc))
            return self._handler_failed(env, trace, spec, failure)
        if not res.sent:
            # A handler that sets no body answers empty; 200 without a body reads as 204.
            res.empty(204 if res.status_code == 200 else res.status_code)
        trace.add(
            Stage.HANDLER_END,
            self.clock.now_us(),
            handler_id=spec.handler_id,
            status=res.status_code,
        )
        response = ResponseEnvelope(
            request_id=env.request_id,
            status=res.status_code,
            headers=res.frozen_headers(),
            body=res.body,
            completed_at_us=self.clock.now_us(),
            handler_id=spec.handler_id,
        )
        trace.add(
            Stage.RESPONDED,
            response.completed_at_us,
            handler_id=spec.handler_id,
            status=res.status_code,
        )
        return Outcome(response, tuple(trace.events))

    def _handler_failed(
        self, env: RequestEnvelope, trace: Trace, spec: HandlerSpec, failure: _Failure
    ) -> Outcome:
        trace.add(
            Stage.HANDLER_END,
            self.clock.now_us(),
            handler_id=spec.handler_id,
            status=failure.status,
            error_code=failure.code,
        )
        return self._fail(env, trace, spec, failure)

    def _fail(
        self, env: RequestEnvelope, trace: Trace, spec: HandlerSpec | None, failure: _Failure
    ) -> Outcome:
        handler_id = spec.handler_id if spec else None
        # Rejected and expired requests already carry their reason; everything else gets a
        # ``failed`` step with the detail, the record of what went wrong.
        if trace.events[-1].stage not in (Stage.REJECTED.value, Stage.EXPIRED.value):
            trace.add(
                Stage.FAILED,
                self.clock.now_us(),
                handler_id=handler_id,
                status=failure.status,
                error_code=failure.code,
                detail=failure.detail or _json({"message": failure.message}),
            )
        response = ResponseEnvelope(
            request_id=env.request_id,
            status=failure.status,
            headers=_JSON + failure.headers,
            body=error_body(failure.status, failure.code, failure.message, env.request_id),
            completed_at_us=self.clock.now_us(),
            handler_id=handler_id,
        )
        trace.add(
            Stage.RESPONDED,
            response.completed_at_us,
            handler_id=handler_id,
            status=failure.status,
            error_code=failure.code,
        )
        return Outcome(response, tuple(trace.events))


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)[:_DETAIL_LIMIT]


def _exc_detail(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else None
    return _json({"type": type(exc).__name__, "message": str(exc)[:500], "at": where})
