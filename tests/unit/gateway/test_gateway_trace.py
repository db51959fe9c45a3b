"""The gateway's half of W3C Trace Context: its SERVER span continues the client's
``traceparent``, the envelope carries that span, and the reply names it.

The gateway runs on the embedded log with a stand-in worker that answers each envelope
(and sets a ``traceparent`` of its own, which the gateway must not pass on).
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from gati.codec.envelopes import EnvelopeCodec
from gati.config import Settings
from gati.core.envelopes import RequestEnvelope, ResponseEnvelope
from gati.gateway.asgi import Gateway
from gati.log.memory import MemoryLog
from gati.observability import OtelTracer, configure_tracing

pytestmark = pytest.mark.timeout(30)

CODEC = EnvelopeCodec()
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
CLIENT = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
WORKER_SET = "00-11111111111111111111111111111111-2222222222222222-01"


async def _exchange(tracer: OtelTracer | None,
                    headers: dict[str, str]) -> tuple[httpx.Response, RequestEnvelope]:
    """One GET through the gateway; the response and the envelope the worker got."""
    settings = Settings(gateway_id="gw-trace", request_timeout_s=10.0)
    log = MemoryLog(auto_create_partitions=1)
    gw = Gateway(settings, log, manage_log=False, tracer=tracer)
    await gw.start()
    worker = log.subscribe([settings.requests_topic], group="test-worker")
    await worker.start()
    try:
        transport = httpx.ASGITransport(app=gw)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            answer = asyncio.create_task(client.get("/users/1", headers=headers))
            [record] = await worker.fetch(max_records=1, timeout_s=10.0)
            env = CODEC.decode_request(record.value)
            await log.send(env.reply_topic, CODEC.encode_response(ResponseEnvelope(
                request_id=env.request_id, status=200, headers=(("traceparent", WORKER_SET),),
                body=b"ok", completed_at_us=time.time_ns() // 1000)))
            response = await answer
    finally:
        await gw.stop()
    return response, env


async def test_the_envelope_and_the_reply_carry_the_gateway_s_span(
        tracer: OtelTracer, exporter: InMemorySpanExporter) -> None:
    response, env = await _exchange(tracer, {"traceparent": CLIENT, "tracestate": "a=b"})
    [span] = exporter.get_finished_spans()
    assert span.kind == SpanKind.SERVER and span.parent is not None
    assert (format(span.context.trace_id, "032x"), format(span.parent.span_id, "016x")) == (
        TRACE_ID, CLIENT_SPAN)
    gateway_span = format(span.context.span_id, "016x")
    assert env.trace is not None and env.trace.tracestate == "a=b"
    assert env.trace.traceparent.split("-")[1:3] == [TRACE_ID, gateway_span]
    # The reply names the gateway's span, whatever the handler put in its headers.
    assert response.headers.get_list("traceparent") == [env.trace.traceparent]
    assert span.attributes is not None
    assert span.attributes["gati.request_id"] == response.headers["x-request-id"]
    assert span.attributes["http.status_code"] == 200


async def test_a_malformed_traceparent_starts_a_trace_of_the_gateway_s_own(
        tracer: OtelTracer, exporter: InMemorySpanExporter) -> None:
    response, env = await _exchange(tracer, {"traceparent": f"{CLIENT}-extra"})
    assert response.status_code == 200
    [span] = exporter.get_finished_spans()
    assert span.parent is None
    assert env.trace is not None and TRACE_ID not in env.trace.traceparent
    assert response.headers["traceparent"] == env.trace.traceparent


async def test_an_untraced_gateway_forwards_the_client_s_context_unchanged() -> None:
    response, env = await _exchange(configure_tracing("gati-gateway", ""),
                                    {"traceparent": CLIENT})
    assert env.trace is not None and env.trace.traceparent == CLIENT
    assert response.headers["traceparent"] == CLIENT
    # And starts no trace of its own: nothing to forward, nothing carried or returned.
    response, env = await _exchange(configure_tracing("gati-gateway", ""), {})
    assert env.trace is None and "traceparent" not in response.headers


async def test_a_gateway_built_without_a_tracer_carries_no_context() -> None:
    response, env = await _exchange(None, {"traceparent": CLIENT})
    assert env.trace is None
    assert response.headers.get_list("traceparent") == [WORKER_SET]  # the handler's own


async def test_a_client_that_does_not_sample_is_continued_but_not_recorded(
        tracer: OtelTracer, exporter: InMemorySpanExporter) -> None:
    unsampled = f"00-{TRACE_ID}-{CLIENT_SPAN}-00"
    response, env = await _exchange(tracer, {"traceparent": unsampled})
    assert exporter.get_finished_spans() == ()
    assert env.trace is not None and env.trace.traceparent.endswith("-00")
    assert env.trace.trace_id == TRACE_ID
    assert response.headers["traceparent"] == env.trace.traceparent
