"""The recorder says "degraded" while it cannot write, and "ok" once it can again."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
import pytest

from gati.codec import EnvelopeCodec
from gati.config import Settings
from gati.core.envelopes import LifecycleEvent, RequestEnvelope
from gati.errors import StoreUnavailable
from gati.log.memory import MemoryLog
from gati.observability import PrometheusMetrics
from gati.observability.health import Health, HealthServer
from gati.recorder import Recorder
from gati.store import Store

SETTINGS = Settings(topic_prefix="health", requests_partitions=1, recorder_batch_size=10)
CODEC = EnvelopeCodec()
Eventually = Callable[..., Awaitable[Any]]


def _gauge(metrics: PrometheusMetrics, dependency: str) -> float | None:
    return metrics.registry.get_sample_value("gati_recorder_degraded",
                                             {"dependency": dependency})


def test_health_follows_its_dependencies_and_the_gauge_mirrors_them() -> None:
    metrics = PrometheusMetrics()
    health = Health(metrics)
    assert health.report() == (503, {"status": "starting", "degraded": {}})
    health.started()
    assert health.report() == (200, {"status": "ok", "degraded": {}})
    assert _gauge(metrics, "database") == 0 and _gauge(metrics, "kafka") == 0
    health.degrade("database", "refused")
    health.degrade("database", "refused again")  # the latest reason is the one shown
    assert health.report() == (503, {"status": "degraded",
                                     "degraded": {"database": "refused again"}})
    assert _gauge(metrics, "database") == 1
    health.recover("database")
    assert health.report()[0] == 200 and _gauge(metrics, "database") == 0
    with pytest.raises(ValueError, match="unknown dependency 'redis'"):
        health.degrade("redis", "down")


async def test_the_health_server_answers_health_and_metrics() -> None:
    metrics = PrometheusMetrics()
    health = Health(metrics)
    health.started()
    server = await HealthServer(health, exposition=metrics.exposition).start(0, host="127.0.0.1")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            ok = await client.get("/_gati/health")
            assert (ok.status_code, ok.json()) == (200, {"status": "ok", "degraded": {}})
            health.degrade("kafka", "commit waits")
            down = await client.get("/_gati/health")
            assert down.status_code == 503
            assert down.json() == {"status": "degraded", "degraded": {"kafka": "commit waits"}}
            scraped = await client.get("/metrics")
            assert 'gati_recorder_degraded{dependency="kafka"} 1.0' in scraped.text
            assert (await client.get("/nope")).status_code == 404
            assert (await client.post("/_gati/health")).status_code == 405
    finally:
        server.close()


class FlakyStore(Store):
    """The real SQLite store behind a switch that makes every write unreachable."""

    down = False

    async def record(self, envelopes: Sequence[RequestEnvelope],
                     events: Sequence[LifecycleEvent], **kwargs: Any) -> None:
        if self.down:
            raise StoreUnavailable("writing: the database is unreachable: ConnectionRefusedError")
        await super().record(envelopes, events, **kwargs)


async def test_the_recorder_is_degraded_while_the_database_is_down(
    store: Store, make_envelope: Callable[..., RequestEnvelope], eventually: Eventually,
) -> None:
    flaky = FlakyStore(store.engine)
    log = MemoryLog()
    health = Health()
    recorder = Recorder(SETTINGS, log, flaky, codec=CODEC, health=health)
    task = asyncio.create_task(recorder.run())
    try:
        await asyncio.wait_for(recorder.ready.wait(), 5)
        assert health.status == "ok"
        flaky.down = True
        env = make_envelope()
        await log.send(SETTINGS.requests_topic, CODEC.encode_request(env),
                       key=env.request_id.encode())

        async def degraded() -> bool:
            return health.status == "degraded"

        await eventually(degraded, what="health to say degraded")
        assert "unreachable" in health.report()[1]["degraded"]["database"]  # type: ignore[index]
        assert not task.done()
        flaky.down = False

        async def recorded() -> bool:
            return health.status == "ok" and await store.get_request(env.request_id) is not None

        await eventually(recorded, within=10, what="the request recorded and health ok")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
