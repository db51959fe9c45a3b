"""The gateway's /metrics on the embedded log: answered in place, counting what it answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio

from gati import App
from gati.codec.envelopes import EnvelopeCodec
from gati.config import Settings
from gati.gateway.asgi import Gateway
from gati.gateway.bodies import TypedBodies
from gati.log.memory import MemoryLog
from gati.observability import PrometheusMetrics
from gati.worker.loop import LogWorker
from gati.worker.processor import Processor
from gati.worker.runtime import WorkerRuntime

pytestmark = pytest.mark.timeout(30)

SETTINGS = Settings(gateway_id="gw-test", max_body_bytes=16, request_timeout_s=5.0)


def records(log: MemoryLog, topic: str) -> int:
    t = log.topics.get(topic)
    return 0 if t is None else sum(len(p) for p in t.partitions)


def series(text: str) -> dict[str, float]:
    """``name{labels} value`` lines of a text exposition, comments left out."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


@pytest_asyncio.fixture
async def gateway() -> AsyncIterator[tuple[MemoryLog, httpx.AsyncClient]]:
    log = MemoryLog()
    gw = Gateway(SETTINGS, log, manage_log=False, metrics=PrometheusMetrics())
    await gw.start()
    transport = httpx.ASGITransport(app=gw)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        yield log, client
    await gw.stop()


async def test_metrics_are_answered_by_the_gateway_and_never_reach_the_log(
    gateway: tuple[MemoryLog, httpx.AsyncClient],
) -> None:
    log, client = gateway
    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = series(response.text)
    assert found["gati_gateway_in_flight"] == 0.0
    assert "gati_gateway_request_seconds_count" in found
    assert records(log, SETTINGS.requests_topic) == 0
    assert "x-request-id" not in response.headers  # not a request of the system


async def test_answers_are_counted_by_status_and_503s_by_reason(
    gateway: tuple[MemoryLog, httpx.AsyncClient],
) -> None:
    log, client = gateway
    too_large = await client.post("/upload", content=b"x" * 100)
    assert too_large.status_code == 413  # recorded on the log, answered by the gateway
    log.available = False
    for _ in range(2):
        assert (await client.get("/anything")).status_code == 503
    log.available = True

    found = series((await client.get("/metrics")).text)
    assert found['gati_gateway_requests_total{status="413"}'] == 1.0
    assert found['gati_gateway_requests_total{status="503"}'] == 2.0
    assert found['gati_gateway_unavailable_total{reason="log_unavailable"}'] == 2.0
    assert found["gati_gateway_request_seconds_count"] == 3.0
    assert found["gati_gateway_in_flight"] == 0.0
    assert records(log, SETTINGS.requests_topic) == 1  # the 413 only; scrapes add nothing


async def test_without_metrics_the_path_is_an_ordinary_request() -> None:
    log = MemoryLog()
    gw = Gateway(SETTINGS, log, manage_log=False)
    await gw.start()
    try:
        transport = httpx.ASGITransport(app=gw)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw",
                                     timeout=1) as client:
            with pytest.raises(asyncio.TimeoutError):
                # Nobody answers it: it waits for a worker like any other request.
                await asyncio.wait_for(client.get("/metrics"), 0.3)
        assert records(log, SETTINGS.requests_topic) == 1
    finally:
        await gw.stop()


async def test_dev_wiring_one_registry_shows_gateway_and_worker_counts() -> None:
    app = App("shop")

    @app.get("/hello", handler_id="shop.hello")
    async def hello(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        res.json({"hello": "world"})

    log = MemoryLog()
    metrics = PrometheusMetrics()
    runtime = WorkerRuntime(app, SETTINGS, metrics=metrics)
    pipeline = await runtime.start()
    gw = Gateway(SETTINGS, log, manage_log=False, metrics=metrics)
    await gw.start()
    worker = LogWorker(Processor(SETTINGS, pipeline, log, clock=runtime.clock).handle, log,
                       topics=[SETTINGS.requests_topic], group=SETTINGS.worker_group,
                       concurrency=4)
    task = asyncio.create_task(worker.run())
    try:
        await worker.ready.wait()
        transport = httpx.ASGITransport(app=gw)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            for _ in range(3):
                assert (await client.get("/hello")).json() == {"hello": "world"}
            found = series((await client.get("/metrics")).text)
        assert found['gati_gateway_requests_total{status="200"}'] == 3.0
        assert found['gati_requests_total{handler="shop.hello",status="200"}'] == 3.0
        assert found['gati_handler_seconds_count{handler="shop.hello"}'] == 3.0
        assert records(log, SETTINGS.requests_topic) == 3
    finally:
        worker.stop()
        await task
        await gw.stop()
        await runtime.close()


async def test_bodies_are_counted_by_how_they_went_to_the_log() -> None:
    @dataclass
    class Greeting:
        name: str

    app = App("greeter")

    @app.post("/greet", request=Greeting, handler_id="greeter.greet")
    async def greet(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        res.json({"hi": req.body.name})

    app.validate()
    log = MemoryLog()
    ids = {("greeter.greet", "initial"): 41}
    settings = Settings(gateway_id="gw-bodies", request_timeout_s=0.2)
    gw = Gateway(settings, log, manage_log=False, metrics=PrometheusMetrics(),
                 typed_bodies=lambda: _ready(TypedBodies(app, ids)))
    await gw.start()
    try:
        transport = httpx.ASGITransport(app=gw)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            for body in ({"name": "Ada"}, {"name": "Grace"}, {"name": 7}):
                await client.post("/greet", json=body)  # no worker: 504s, bodies logged
            found = series((await client.get("/metrics")).text)
        assert found['gati_gateway_bodies_total{encoding="avro"}'] == 2.0
        assert found['gati_gateway_bodies_total{encoding="json"}'] == 1.0
        envs = [EnvelopeCodec().decode_request(r.value)
                for p in log.topics[settings.requests_topic].partitions for r in p]
        # Partitioned by request id, so in no particular order across partitions.
        assert sorted(str(e.body_schema) for e in envs) == ["41", "41", "None"]
        as_sent = next(e for e in envs if e.body_schema is None)
        assert json.loads(as_sent.body) == {"name": 7}
    finally:
        await gw.stop()


async def _ready(bodies: TypedBodies) -> TypedBodies:
    return bodies
