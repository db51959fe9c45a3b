"""The gateway as a plain ASGI application.

It owns no state beyond the in-flight map: each request gets a time-ordered id and a
deadline, is appended to the requests topic (acknowledged by the log before anything
else happens), and the gateway waits for the reply on its own topic. It answers by
itself only what needs no handler: 413 for oversized bodies (still appended, so the
rejection is recorded), 503 when the log cannot take the request or too many are in
flight, 504 when the deadline passes. A 503 from the log means the request will not run:
its envelope carries the time the gateway gave up, and workers refuse an envelope the
broker appended after it (docs/decisions.md, "A 503 means it will not run").

Given a ``PrometheusMetrics`` it also answers ``/metrics`` itself (never forwarded) and
counts what it answers. Given the app's typed bodies (``gati.gateway.bodies``) it sends
valid typed JSON bodies as Avro. Given an ``OtelTracer`` each request is a SERVER span
continuing the client's W3C ``traceparent``; the envelope carries that span's context to
the worker and every answer carries its ``traceparent`` back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gati.codec.envelopes import EnvelopeCodec
from gati.codec.seal import Sealer
from gati.config import Settings
from gati.core.envelopes import Rejection, RequestEnvelope, ResponseEnvelope
from gati.core.http import error_body, version_preference
from gati.core.ids import RequestIdGenerator
from gati.core.observe import Metrics
from gati.core.ports import Clock, EventLog, SystemClock
from gati.errors import BackendUnavailable, GatiError
from gati.gateway.cors import ANSWERED, with_cors
from gati.gateway.replies import ReplyWaiter
from gati.http_body import BodyTooLarge, read_body
from gati.observability.health import HEALTH_PATH, METRICS_PATH, Health
from gati.observability.tracing import current_trace
from gati.wiring import Role, topics

if TYPE_CHECKING:
    from gati.gateway.auth import Authenticator
    from gati.gateway.bodies import TypedBodies
    from gati.gateway.idempotency import IdempotencyKeys, Settled
    from gati.gateway.ratelimit import RateLimits
    from gati.observability.metrics import PrometheusMetrics
    from gati.observability.tracing import OtelTracer, ServerSpan

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


# How long the log may take to acknowledge an append: at most MAX_SEND_BUDGET_S (the
# default ``send_budget_s``), never past the request's deadline, never under
# MIN_SEND_BUDGET_S. The end of it travels in
# the envelope as ``accept_by_us``.
MIN_SEND_BUDGET_S = 0.05
MAX_SEND_BUDGET_S = 5.0
# How much longer the gateway waits for a late acknowledgement before answering 503. It
# must exceed the broker's clock lag behind the gateway plus an acknowledgement's trip
# back, or a request the broker appended in time could run after a 503.
ACCEPT_GRACE_S = 1.0




class _GatewayMetrics:
    """What the gateway itself answers; handlers are counted by the worker."""

    def __init__(self, metrics: Metrics) -> None:
        self.requests = metrics.counter(
            "gati_gateway_requests_total", "Requests answered by the gateway, by status",
            ("status",))
        self.in_flight = metrics.gauge(
            "gati_gateway_in_flight", "Requests the gateway is answering now")
        self.latency = metrics.histogram(
            "gati_gateway_request_seconds", "From receipt to answer, at the gateway")
        self.unavailable = metrics.counter(
            "gati_gateway_unavailable_total", "503 answers by reason", ("reason",))
        self.bodies = metrics.counter(
            "gati_gateway_bodies_total",
            "Request bodies by how they went to Kafka: avro (typed, exact round trip) or "
            "json (everything else); counted when the gateway has the app", ("encoding",))
        self.limited = metrics.counter(
            "gati_gateway_rate_limited_total", "429 answers: over a route's rate limit",
            ("route",))
        self.replayed = metrics.counter(
            "gati_gateway_idempotent_replays_total",
            "Repeats of an Idempotency-Key answered with the first request's response")


class Gateway:
    def __init__(
        self,
        settings: Settings,
        event_log: EventLog,
        *,
        clock: Clock | None = None,
        codec: EnvelopeCodec | None = None,
        manage_log: bool = True,
        metrics: PrometheusMetrics | None = None,
        sealer: Sealer | None = None,
        typed_bodies: Callable[[], Awaitable[TypedBodies]] | None = None,
        send_budget_s: float = MAX_SEND_BUDGET_S,
        accept_grace_s: float = ACCEPT_GRACE_S,
        authenticator: Authenticator | None = None,
        idempotency: IdempotencyKeys | None = None,
        rate_limits: RateLimits | None = None,
        consumer_lag: Callable[[], Awaitable[int]] | None = None,
        tracer: OtelTracer | None = None,
    ) -> None:
        self.settings = settings
        # Each request's SERVER span, continuing the client's traceparent (issue 15).
        self.tracer = tracer
        # The app's credentials check; its principal travels in the envelope (issue 18).
        self.authenticator = authenticator
        # Idempotency-Key claims where every gateway sees them (the record's database).
        self.idempotency = idempotency
        # Route rate limits, counted where every gateway counts (the same database).
        self.rate_limits = rate_limits
        # The workers' lag on the requests topic, read every lag_check_s; over
        # max_consumer_lag the gateway sheds new requests (503) instead of queueing them.
        self._consumer_lag = consumer_lag
        self.lag: int | None = None
        self._lag_task: asyncio.Task[None] | None = None
        self.send_budget_s = send_budget_s
        self.accept_grace_s = accept_grace_s
        self.sealer = sealer
        self._typed_bodies = typed_bodies
        self.bodies: TypedBodies | None = None
        self.log = event_log
        self.clock = clock or SystemClock()
        self.codec = codec or EnvelopeCodec()
        self.ids = RequestIdGenerator(self.clock)
        self.gateway_id = settings.effective_gateway_id()
        self.reply_topic = settings.reply_topic(self.gateway_id)
        self.replies = ReplyWaiter(event_log, self.reply_topic, self.codec)
        self._manage_log = manage_log
        self._started = False
        # Degraded from a failed append until one succeeds.
        self.health = Health(metrics, role="gateway")
        self.metrics = metrics
        self._m = _GatewayMetrics(metrics) if metrics is not None else None

    async def start(self) -> None:
        if self._started:
            return
        if self._manage_log:
            await self.log.start()
        await self.log.ensure_topics(
            topics(self.settings, Role.GATEWAY, gateway_id=self.gateway_id))
        await self.replies.start()
        if self.authenticator is not None:
            await self.authenticator.start()
        if self._consumer_lag is not None and self.settings.max_consumer_lag > 0:
            self._lag_task = asyncio.create_task(self._watch_lag(self._consumer_lag),
                                                 name="gati-gateway-lag")
        if self.idempotency is not None:
            self.idempotency.start_pruning(self.clock.now_us, () if self.rate_limits is None
                                           else (self.rate_limits.storage.prune,))
        if self._typed_bodies is not None and self.bodies is None:
            try:
                self.bodies = await self._typed_bodies()
            except GatiError as exc:
                # Typed bodies are an encoding, not a feature: JSON still carries them.
                log.warning("typed bodies travel as JSON: their schemas could not be "
                            "registered: %s", exc)
        self._started = True
        self.health.started()

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        if self._lag_task is not None:
            self._lag_task.cancel()
            await asyncio.gather(self._lag_task, return_exceptions=True)
        if self.idempotency is not None:
            await self.idempotency.close()
        await self.replies.stop()
        if self._manage_log:
            await self.log.stop()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"] == HEALTH_PATH:
            await self._health(send)
            return
        if self.metrics is not None and scope["path"] == METRICS_PATH:
            accept = next((v for k, v in scope["headers"] if k.lower() == b"accept"), b"")
            body, content_type = self.metrics.exposition(accept.decode("latin-1"))
            await _respond(send, 200, [(b"content-type", content_type.encode())], body)
            return
        cors = self.authenticator.config.cors if self.authenticator is not None else None
        if cors is not None:
            send = await with_cors(cors, scope, send)
            if send is ANSWERED:
                return
        if self.tracer is None:
            await self._counted(scope, receive, send)
            return
        headers: dict[str, list[str]] = {}
        for k, v in scope["headers"]:
            headers.setdefault(k.decode("latin-1").lower(), []).append(v.decode("latin-1"))
        attrs = {"http.method": scope["method"], "http.target": scope["path"],
                 "gati.gateway_id": self.gateway_id}
        with self.tracer.server_span(scope["method"], headers, attrs) as span:
            await self._counted(scope, receive, _traced(span, send))

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._m is None:
            await self._handle(scope, receive, send)
        else:
            await self._handle_counted(self._m, scope, receive, send)

    async def _handle_counted(
        self, m: _GatewayMetrics, scope: Scope, receive: Receive, send: Send
    ) -> None:
        status = 500  # what the server answers if _handle raises before responding

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        m.in_flight.inc()
        started = time.perf_counter()
        try:
            await self._handle(scope, receive, counting_send)
        finally:
            m.in_flight.dec()
            m.latency.observe(time.perf_counter() - started)
            m.requests.inc(status=str(status))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One request in three steps: its envelope, its append, its reply.

        A step that ends the request answers the client itself.
        """
        request_id = self.ids.new()
        rid = request_id.encode()
        if self.replies.in_flight >= self.settings.max_in_flight or not self._started:
            await self._error(
                send,
                rid,
                503,
                "overloaded" if self._started else "starting",
                "the gateway cannot take more requests now; retry shortly",
                retry_after=True,
            )
            return
        if self.lag is not None and self.lag > self.settings.max_consumer_lag:
            await self._error(send, rid, 503, "workers_behind",
                              f"the workers are {self.lag} requests behind; retry shortly",
                              retry_after=True)
            return
        env = await self._envelope(scope, receive, request_id)
        env, limit_headers = await self._rate_limit(env)
        settled = None
        if self.idempotency is not None and env.rejection is None:
            settled = await self.idempotency.settle(env, self.clock.now_us())
            if settled is not None and settled.scope is None:
                await self._settled(send, rid, settled)
                return
        env = self._encode_body(env)
        # Registered before the append, so a fast worker's reply finds its waiter.
        waiting = self.replies.expect(request_id) if env.rejection is None else None
        if not await self._append(send, env):
            self.replies.forget(request_id)
            if settled is not None and settled.scope is not None and self.idempotency:
                await self.idempotency.release(settled.scope, request_id)
            return
        if env.rejection is not None:
            rej = env.rejection
            await self._error(send, rid, rej.status, rej.code, rej.message,
                              extra=limit_headers)
            return
        assert waiting is not None
        await self._await_reply(send, env, waiting)

    async def _envelope(self, scope: Scope, receive: Receive, request_id: str) -> RequestEnvelope:
        """The request as the log will hold it, the gateway's give-up time included.

        ``accept_by_us`` is when the gateway stops waiting for the log's acknowledgement:
        at most ``send_budget_s`` after the body is in, and not past the deadline.
        Workers refuse an envelope the broker appended later (issue 11), which is what
        lets a 503 promise that the request will not run.
        """
        s = self.settings
        now = self.clock.now_us()
        deadline = now + int(s.request_timeout_s * 1e6)
        headers = tuple(
            (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]
        )
        query = scope.get("query_string", b"").decode("latin-1")
        rejection: Rejection | None = None
        try:
            body = await asyncio.wait_for(_read_body(receive, headers, s.max_body_bytes),
                                          s.body_timeout_s)
        except BodyTooLarge:
            body = b""
            rejection = Rejection(
                413, "body_too_large", f"the request body is over {s.max_body_bytes} bytes"
            )
        except TimeoutError:  # a slow body holds no more than this
            body = b""
            rejection = Rejection(408, "body_timeout",
                                  f"the request body took over {s.body_timeout_s}s to arrive")
        # The budget starts once the body is in: a slow upload is not the log's delay.
        read_at = self.clock.now_us()
        budget_s = max(MIN_SEND_BUDGET_S, min(self.send_budget_s, (deadline - read_at) / 1e6))
        client = scope.get("client")
        auth = None if self.authenticator is None else \
            await self.authenticator.authenticate(headers)
        env = RequestEnvelope(
            request_id=request_id,
            gateway_id=self.gateway_id,
            reply_topic=self.reply_topic,
            reply_partition=0,
            received_at_us=now,
            deadline_at_us=deadline,
            method=scope["method"],
            path=scope["path"],
            query=query,
            headers=headers,
            body=body,
            client=f"{client[0]}:{client[1]}" if client else None,
            version_pref=version_preference(headers, query),
            rejection=rejection,
            accept_by_us=read_at + int(budget_s * 1e6),
            auth=auth,
            trace=None if self.tracer is None else current_trace(),
        )
        return env

    def _encode_body(self, env: RequestEnvelope) -> RequestEnvelope:
        """Seal sensitive values, then send a valid typed JSON body as Avro."""
        if self.sealer is not None:
            env = self.sealer.seal(env)  # sensitive values leave this process encrypted
        if self.bodies is not None and env.rejection is None:
            typed = self.bodies.encode(env.method, env.path, env.version_pref,
                                       env.header("content-type"), env.body)
            if typed is not None:
                env = replace(env, body=typed[1], body_schema=typed[0])
            if self._m is not None and env.body:
                self._m.bodies.inc(encoding="json" if typed is None else "avro")
        return env

    async def _watch_lag(self, read: Callable[[], Awaitable[int]]) -> None:
        """Keep ``self.lag`` current; a lag that cannot be read sheds nothing."""
        while True:
            try:
                self.lag = await read()
            except Exception as exc:
                log.warning("consumer lag not read (not shedding on it): %r", exc)
                self.lag = None
            await asyncio.sleep(self.settings.lag_check_s)

    async def _rate_limit(
        self, env: RequestEnvelope
    ) -> tuple[RequestEnvelope, tuple[tuple[bytes, bytes], ...]]:
        """``env`` as a recorded 429 rejection when over its route's limit.

        A database that does not answer admits the request (fail open, as Envoy's
        default): a rate limit protects capacity, it is not an authorization.
        """
        if self.rate_limits is None or env.rejection is not None:
            return env, ()
        try:
            over = await self.rate_limits.check(env)
        except Exception as exc:
            log.warning("rate limit not checked (admitted): %r", exc)
            return env, ()
        if over is None:
            return env, ()
        route, limited = over
        if self._m is not None:
            self._m.limited.inc(route=route)
        return replace(env, rejection=Rejection(429, "rate_limited", limited.message)), \
            limited.headers

    async def _settled(self, send: Send, rid: bytes, settled: Settled) -> None:
        """A repeat answered with the first request's recorded response, or refused."""
        if settled.answer is None:
            assert settled.status is not None
            await self._error(send, rid, settled.status, settled.code, settled.message,
                              retry_after=settled.status in (409, 503))
            return
        a = settled.answer
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in a.headers
                   if k not in ("content-length", "x-request-id")]
        headers += [(b"x-request-id", (settled.answered_by or rid.decode()).encode()),
                    (b"idempotent-replayed", b"true")]
        if self._m is not None:
            self._m.replayed.inc()
        await _respond(send, a.status, headers, a.body)

    async def _health(self, send: Send) -> None:
        """200 ``ok``; 503 ``starting``, or ``degraded`` while the log refuses appends
        (the last one failed): a load balancer sends clients to another gateway."""
        code, body = self.health.report(gateway_id=self.gateway_id,
                                        in_flight=self.replies.in_flight)
        if code == 200 and not self.replies.running:
            code, body["status"] = 503, "starting"
        await _respond(send, code, [(b"content-type", b"application/json")],
                       json.dumps(body).encode())

    async def _append(self, send: Send, env: RequestEnvelope) -> bool:
        """Append the envelope and wait for the log's acknowledgement, or answer 503.

        The wait lasts until ``accept_by_us`` plus a grace: an append the broker made in
        time but acknowledged late still gets its reply, and one it makes after
        ``accept_by_us`` is refused by the workers. Either way the 503 is true: the
        request will not run. A log that fails at once (no producer) is answered at once.
        """
        assert env.accept_by_us is not None
        wait_s = max(0.0, (env.accept_by_us - self.clock.now_us()) / 1e6) + self.accept_grace_s
        value = self.codec.encode_request(env)
        try:
            # The log's own bound on an acknowledgement (5 s by default) would cut this
            # wait at ``accept_by_us`` with no grace: an append made just before a broker
            # pause and acknowledged after it would run after a 503.
            await asyncio.wait_for(
                self.log.send(self.settings.requests_topic, value,
                              key=env.request_id.encode(), timeout_s=wait_s),
                wait_s,
            )
        except (BackendUnavailable, TimeoutError) as exc:
            self.health.degrade("kafka", f"the log did not accept a request: {exc!r}"[:300])
            log.warning("request %s not accepted by the log: %r", env.request_id, exc)
            await self._error(send, env.request_id.encode(), 503, "log_unavailable",
                              _not_accepted(env.accept_by_us), retry_after=True)
            return False
        self.health.recover("kafka")
        return True

    async def _await_reply(
        self, send: Send, env: RequestEnvelope, waiting: asyncio.Future[ResponseEnvelope]
    ) -> None:
        """Forward the worker's reply, or answer 504 once the deadline has passed."""
        rid = env.request_id.encode()
        try:
            remaining = max(0.0, (env.deadline_at_us - self.clock.now_us()) / 1e6)
            reply = await asyncio.wait_for(waiting, remaining)
        except TimeoutError:
            await self._error(
                send,
                rid,
                504,
                "gateway_timeout",
                f"no answer within {self.settings.request_timeout_s}s; the request is "
                "recorded and its outcome can be looked up by id",
            )
            return
        finally:
            self.replies.forget(env.request_id)
        await self._reply(send, rid, reply)

    async def _reply(self, send: Send, rid: bytes, reply: ResponseEnvelope) -> None:
        headers = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in reply.headers
            if k not in ("content-length", "x-request-id")
        ]
        headers.append((b"x-request-id", rid))
        await _respond(send, reply.status, headers, reply.body)

    async def _error(
        self,
        send: Send,
        rid: bytes,
        status: int,
        code: str,
        message: str,
        *,
        retry_after: bool = False,
        extra: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        headers = [(b"content-type", b"application/json"), (b"x-request-id", rid), *extra]
        if status == 503 and self._m is not None:
            self._m.unavailable.inc(reason=code)
        if retry_after:
            headers.append((b"retry-after", str(self.settings.retry_after_s).encode()))
        await _respond(send, status, headers, error_body(status, code, message, rid.decode()))


def _traced(span: ServerSpan, send: Send) -> Send:
    """``send`` that tells the span how the request was answered and puts its
    ``traceparent`` on the response (replacing any the handler set)."""

    async def traced(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k != b"traceparent"]
            rid = next((v for k, v in headers if k == b"x-request-id"), None)
            span.answered(message["status"], None if rid is None else rid.decode("latin-1"))
            parent = span.traceparent()
            if parent is not None:
                headers.append((b"traceparent", parent.encode("latin-1")))
            message = {**message, "headers": headers}
        await send(message)

    return traced


def _not_accepted(accept_by_us: int) -> str:
    """The 503's message: what the client may rely on, and how to check it."""
    accept_by = datetime.fromtimestamp(accept_by_us / 1e6, UTC).isoformat(
        timespec="milliseconds")
    return ("the event log did not acknowledge the request in time; it will not run. "
            f"If the log takes it after {accept_by}, workers refuse it and it is recorded "
            "as refused: look it up by its X-Request-Id. Retry")


async def _read_body(receive: Receive, headers: tuple[tuple[str, str], ...], limit: int) -> bytes:
    declared = next((v for k, v in headers if k == "content-length"), None)
    return await read_body(receive, limit, declared_length=declared)


async def _respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
