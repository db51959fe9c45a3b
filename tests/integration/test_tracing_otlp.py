"""W3C Trace Context end to end, as a collector receives it over OTLP/HTTP.

Gateway, worker and recorder run as separate ``gati`` processes on Kafka and Postgres,
exporting to a real OTLP receiver (``tests/otlp_receiver.py``, protobuf decoded with
``opentelemetry-proto``). A request's trace must be one trace from the client's span
through the gateway, Kafka and the worker's request, hook, handler and module-call
spans, with the parents a trace viewer draws; the response and the record name it.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import sqlalchemy as sa
from otlp_receiver import OtlpReceiver, ReceivedSpan, otlp_receiver
from support import GATI, ROOT, System, eventually, start_system

from gati.store import Store, open_store

pytestmark = pytest.mark.timeout(240)
APP = "tests/apps/lifecycle_app.py:app"
CANARY = f"canary-{uuid.uuid4().hex}"
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
# The six hooks of GET /ordered (global, route and local; before and after).
HOOKS = {"global_before", "route_before", "local_before", "local_after", "route_after",
         "global_after"}


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as r:
        yield r


# The gateway's service: its own process on Kafka; gati dev runs it with the worker's.
GATEWAY_SERVICE = {"kafka": "gati-gateway", "embedded": "gati-worker"}


@pytest.fixture(scope="module", params=["kafka", "embedded"])
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           receiver: OtlpReceiver) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp(f"tracing-{request.param}")
    # OTEL_BSP_SCHEDULE_DELAY: the SDK's batch goes out every 200 ms, not every 5 s.
    s = start_system(request.param, tmp, request, app=APP, CANARY_SECRET=CANARY,
                     GATI_OTLP_ENDPOINT=receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY="200")
    yield s
    s.stop()  # replays every request: tracing must not have changed the record


@pytest.fixture
async def store(system: System) -> AsyncIterator[Store]:
    s = await open_store(system.database_url)
    yield s
    await s.close()


def _client_span() -> tuple[str, str]:
    return os.urandom(16).hex(), os.urandom(8).hex()


async def _trace(receiver: OtlpReceiver, trace_id: str) -> dict[str, ReceivedSpan]:
    """The trace's spans by name, once gateway, request, handler, hooks and module
    call have all arrived (they come in separate batches from two processes)."""

    async def complete() -> dict[str, ReceivedSpan] | None:
        spans = {s.name: s for s in receiver.spans(trace_id)}
        hooks = {n.rsplit(".", 1)[-1] for n in spans if n.startswith("hook ")}
        wanted = ("GET", "gati.request", "module vault.lookup")
        if all(n in spans for n in wanted) and hooks == HOOKS and any(
                n.startswith("handler ") for n in spans):
            return spans
        return None

    return await eventually(complete, within=30, what=f"the spans of trace {trace_id}")


async def _recorded_trace_id(store: Store, request_id: str) -> str:
    async def row() -> str | None:
        async with store.engine.connect() as conn:
            return (await conn.execute(sa.text(
                "SELECT trace_id FROM requests WHERE request_id = :r"),
                {"r": request_id})).scalar()

    return await eventually(row, within=30, what=f"{request_id}'s trace id recorded")


def _assert_one_tree(system: System, spans: dict[str, ReceivedSpan],
                     gateway_parent: str | None) -> None:
    gateway, request = spans["GET"], spans["gati.request"]
    assert (gateway.service, gateway.kind, gateway.parent_id) == (
        GATEWAY_SERVICE[system.kind], "SERVER", gateway_parent)
    assert (request.service, request.kind, request.parent_id) == (
        "gati-worker", "CONSUMER", gateway.span_id)
    handler = next(s for n, s in spans.items() if n.startswith("handler "))
    hooks = [s for n, s in spans.items() if n.startswith("hook ")]
    assert {s.parent_id for s in [handler, *hooks]} == {request.span_id}
    assert spans["module vault.lookup"].parent_id == handler.span_id  # called by the handler
    request_ids = {gateway.attributes["gati.request_id"], request.attributes["gati.request_id"],
                   handler.attributes["gati.request_id"]}
    assert len(request_ids) == 1, request_ids


async def test_a_client_trace_continues_through_gateway_and_worker(
        system: System, store: Store, receiver: OtlpReceiver) -> None:
    trace_id, client_span = _client_span()
    headers = {"traceparent": f"00-{trace_id}-{client_span}-01",
               "tracestate": "client=t61rcWkgMzE", "authorization": f"Bearer {CANARY}",
               "x-api-key": CANARY}
    async with system.client() as client:
        response = await client.get("/ordered", params={"token": CANARY}, headers=headers)
    assert response.status_code == 200, response.text
    request_id = response.headers["x-request-id"]
    back = TRACEPARENT.match(response.headers["traceparent"])
    assert back is not None and back.group(1) == trace_id

    spans = await _trace(receiver, trace_id)
    _assert_one_tree(system, spans, gateway_parent=client_span)
    assert back.group(2) == spans["GET"].span_id  # the reply names the gateway's span
    assert spans["GET"].attributes["gati.request_id"] == request_id
    assert spans["GET"].attributes["http.status_code"] == 200
    assert spans["gati.request"].trace_state == "client=t61rcWkgMzE"  # carried along
    # No header value, query or body reaches the collector.
    leaked = [(s.name, t) for s in receiver.spans() for t in s.texts() if CANARY in t]
    assert leaked == []
    assert receiver.rejected == []

    assert await _recorded_trace_id(store, request_id) == trace_id
    # From the record back to the trace: gati history names it.
    shown = await asyncio.create_subprocess_exec(
        GATI, "history", request_id, env=system.env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(shown.communicate(), 60)
    assert shown.returncode == 0, err.decode()
    assert f"trace {trace_id}" in out.decode()


async def test_a_request_without_traceparent_starts_its_own_trace(
        system: System, store: Store, receiver: OtlpReceiver) -> None:
    async with system.client() as client:
        response = await client.get("/ordered")
    assert response.status_code == 200, response.text
    back = TRACEPARENT.match(response.headers["traceparent"])
    assert back is not None
    spans = await _trace(receiver, back.group(1))
    _assert_one_tree(system, spans, gateway_parent=None)
    assert await _recorded_trace_id(store, response.headers["x-request-id"]) == back.group(1)


@pytest.mark.parametrize("malformed", [
    "garbage",
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
])
async def test_a_malformed_traceparent_starts_a_new_trace_and_is_no_error(
        system: System, receiver: OtlpReceiver, malformed: str) -> None:
    async with system.client() as client:
        response = await client.get("/ordered", headers={"traceparent": malformed})
    assert response.status_code == 200, response.text
    back = TRACEPARENT.match(response.headers["traceparent"])
    assert back is not None and back.group(1) not in malformed.lower()
    spans = await _trace(receiver, back.group(1))
    _assert_one_tree(system, spans, gateway_parent=None)


async def test_a_gateway_answer_of_its_own_is_traced_too(
        system: System, receiver: OtlpReceiver) -> None:
    """A request the gateway refuses (413) still returns its trace, and the span says so."""
    trace_id, client_span = _client_span()
    async with httpx.AsyncClient(base_url=system.base_url, timeout=30) as client:
        response = await client.post("/ordered", content=b"x" * (2 * 1024 * 1024),
                                     headers={"traceparent": f"00-{trace_id}-{client_span}-01"})
    assert response.status_code == 413, response.text
    assert response.headers["traceparent"].split("-")[1] == trace_id

    async def gateway_span() -> ReceivedSpan | None:
        return next((s for s in receiver.spans(trace_id) if s.kind == "SERVER"), None)

    span = await eventually(gateway_span, within=30, what="the 413's gateway span")
    assert (span.parent_id, span.attributes["http.status_code"]) == (client_span, 413)
