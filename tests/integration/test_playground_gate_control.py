"""The two ends of remote debug gates on a real broker, without the rest of the system:
what a worker does with what arrives on the control topic, and what the playground
believes about the workers. Each test has topics of its own (a unique prefix)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gati.config import Settings
from gati.core.context import Services
from gati.core.gates import DebugGates, Decision, GateSpec
from gati.core.pipeline import Pipeline
from gati.core.ports import SystemClock
from gati.log.kafka import KafkaLog
from gati.playground.remote import RemoteGates
from gati.worker.control import (
    TABLE_TTL_S,
    WorkerGateControl,
    encode,
    gate_topics,
    start_gate_control,
)
from tests.apps.playground_app import build
from tests.support import eventually

pytestmark = pytest.mark.kafka


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def settings() -> Settings:
    return Settings(topic_prefix=f"t{uuid.uuid4().hex[:10]}", environment="development")


@pytest.fixture
async def log(kafka_bootstrap: str) -> AsyncIterator[KafkaLog]:
    out = KafkaLog(kafka_bootstrap, client_id="gate-control-test")
    await out.start()
    yield out
    await out.stop()


def _gate(gate_id: str) -> GateSpec:
    return GateSpec(gate_id, "before", "handler", handler_id="demo.create_order")


async def test_a_worker_keeps_the_table_while_it_is_republished_and_lifts_it_after(
        settings: Settings, log: KafkaLog, kafka_bootstrap: str) -> None:
    clock = _Clock()
    gates = DebugGates()
    worker = WorkerGateControl(gates, log, settings, worker_id="wk-a", clock=clock)
    await worker.start()
    playground = RemoteGates(KafkaLog(kafka_bootstrap, client_id="pg-test"), settings)
    await playground.start()
    try:
        control, _ = gate_topics(settings)
        await log.send(control, b"not json")  # skipped, never fatal
        await log.send(control, encode({"type": "gates", "playground": "x",
                                        "gates": [{"gate_id": "bad", "point": "sideways"}]}))
        # A playground that publishes one table and is then gone (never republishes).
        await log.send(control, encode({"type": "gates", "playground": "pg-gone",
                                        "gates": [_gate("g-1").to_json()]}))

        async def reported() -> dict[str, list[str]]:
            return {w: ids for w, ids in playground.in_force().items() if ids}

        assert await eventually(reported, within=20, what="wk-a reporting g-1") == \
            {"wk-a": ["g-1"]}
        assert [g.gate_id for g in gates.gates()] == ["g-1"]  # the malformed gate left out

        assert not playground.decide("pause-1@wk-a", Decision("resume"))  # none paused yet
        lctx = _Lctx({"audited": True})
        held = asyncio.create_task(gates.at(_Scope(), {}, "/orders", lctx, "before",
                                            "handler"))

        async def paused() -> list[str]:
            return [p.pause_id for p in playground.paused()]

        [pause_id] = await eventually(paused, within=20, what="the pause reported")
        local = pause_id.split("@")[0]
        # A decision for another worker's pause is not this worker's to take: still
        # paused once the table sent after it (same partition, so read later) is in.
        await log.send(control, encode({"type": "decide", "worker_id": "wk-b",
                                        "pause_id": local, "action": "abort"}))
        await log.send(control, encode({"type": "gates", "playground": "pg-mark",
                                        "gates": [_gate("g-mark").to_json()]}))

        async def marked() -> bool:
            return "g-mark" in playground.in_force().get("wk-a", [])

        assert await eventually(marked, within=20, what="the later table applied")
        assert not held.done() and [p.pause_id for p in gates.paused()] == [local]
        assert playground.decide(pause_id, Decision("resume", {"audited": "remotely"}))
        await playground.flush()
        await asyncio.wait_for(held, 20)
        assert lctx.values == {"audited": "remotely"}
        assert not playground.decide(pause_id, Decision("resume"))  # answered already
        await log.send(control, encode({"type": "gates", "playground": "pg-mark",
                                        "gates": []}))

        clock.now += TABLE_TTL_S + 1  # nobody republished: the table is lifted
        assert await eventually(lambda: _no_gates(gates), within=20,
                                what="the stale table lifted")

        async def none_reported() -> bool:
            return playground.in_force().get("wk-a") == []

        assert await eventually(none_reported, within=20, what="wk-a reporting no gate")
    finally:
        await playground.stop()
        await worker.stop()


async def test_a_production_worker_starts_no_control_consumer(log: KafkaLog) -> None:
    settings = Settings(topic_prefix=f"t{uuid.uuid4().hex[:10]}", environment="production")
    pipeline = Pipeline(build(), Services(modules={}, config={}), clock=SystemClock())
    assert await start_gate_control(pipeline, log, settings, {}) is None
    assert pipeline.gates is None
    allowed = await start_gate_control(pipeline, log, settings, {"GATI_DEBUG_GATES": "1"})
    assert allowed is not None and pipeline.gates is not None
    await allowed.stop()


class _Scope:
    """What a gate records on: here, only that it did."""

    request_id = "r-1"
    handler_id = "demo.create_order"

    def __init__(self) -> None:
        self.stages: list[str] = []

    def record(self, stage: Any, *, status: int | None = None,
               error_code: str | None = None, detail: Any = None) -> None:
        self.stages.append(str(stage))


class _Lctx:
    def __init__(self, values: dict[str, Any]) -> None:
        self.values = dict(values)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value

    def delete(self, key: str) -> None:
        self.values.pop(key, None)

    def keys(self) -> list[str]:
        return list(self.values)


async def _no_gates(gates: DebugGates) -> bool:
    return not gates.gates()
