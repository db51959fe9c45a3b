"""Debug gates in the pipeline: a request paused at a boundary, steered, and replayed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from gati.core.context import ModuleEntry, Services
from gati.core.effects import CallPolicy
from gati.core.envelopes import RequestEnvelope
from gati.core.gates import DebugGates, Decision, GateSpec
from gati.core.pipeline import Outcome, Pipeline
from gati.core.ports import SystemClock
from gati.replay import Replayer
from gati.store import open_store
from tests.apps.playground_app import Stock, build
from tests.unit.playground._seed import envelope


def _pipeline(gates: DebugGates) -> Pipeline:
    services = Services(modules={"stock": ModuleEntry(Stock(), CallPolicy())}, config={})
    pipeline = Pipeline(build(), services, clock=SystemClock())
    pipeline.gates = gates
    return pipeline


def _order(debug: bool = False) -> RequestEnvelope:
    return envelope("POST", "/orders", body={"item": "book", "qty": 2},
                    headers=(("x-gati-debug", "1"),) if debug else ())


async def _paused(gates: DebugGates) -> str:
    return (await asyncio.wait_for(gates.wait_paused(), 10)).pause_id


def _stages(outcome: Outcome) -> list[str]:
    return [e.stage for e in outcome.events]


async def test_a_paused_request_waits_alone_and_resumes_with_the_edit() -> None:
    gates = DebugGates()
    gates.add(GateSpec("g1", "before", "handler", handler_id="demo.create_order",
                       debug_only=True))
    pipeline = _pipeline(gates)
    held = asyncio.create_task(pipeline.process(_order(debug=True)))
    pause_id = await _paused(gates)
    [pause] = gates.paused()
    assert pause.state == {"audited": True} and pause.target == "handler"
    other = await pipeline.process(_order())
    assert other.response.status == 201  # flows past the gate: no X-Gati-Debug
    assert not held.done()
    assert gates.decide(pause_id, Decision("resume", {"audited": "by hand"}))
    outcome = await held
    assert json.loads(outcome.response.body)["audited"] == "by hand"
    stages = _stages(outcome)
    i = stages.index("gate_paused")
    assert stages[i:i + 4] == ["gate_paused", "gate_edited", "gate_resumed", "handler_start"]
    assert not gates.decide(pause_id, Decision("resume"))  # no longer paused


async def test_step_pauses_at_the_next_boundary_and_abort_ends_the_request() -> None:
    gates = DebugGates()
    gates.add(GateSpec("g1", "after", "audit"))
    pipeline = _pipeline(gates)
    held = asyncio.create_task(pipeline.process(_order()))
    gates.decide(await _paused(gates), Decision("step"))
    at_handler = await asyncio.wait_for(gates.wait_paused(target="handler"), 10)
    assert at_handler.point == "before"
    gates.decide(at_handler.pause_id, Decision("abort"))
    outcome = await held
    assert outcome.response.status == 409
    assert json.loads(outcome.response.body)["error"]["code"] == "debug_aborted"
    assert "handler_start" not in _stages(outcome)


async def test_a_gate_nobody_answers_resumes_by_itself() -> None:
    gates = DebugGates()
    gates.add(GateSpec("g1", "before", "handler", path="/orders", timeout_s=0.05))
    outcome = await _pipeline(gates).process(_order())
    assert outcome.response.status == 201
    resumed = [e for e in outcome.events if e.stage == "gate_resumed"]
    assert len(resumed) == 1 and json.loads(resumed[0].detail or "{}")["action"] == "timeout"


@pytest.mark.parametrize("header", [("x-tenant", "acme"), ("x-tenant", "other")])
async def test_a_header_condition_decides_which_requests_pause(header: tuple[str, str]) -> None:
    gates = DebugGates()
    gates.add(GateSpec("g1", "before", "handler", header=("x-tenant", "acme"), timeout_s=0.05))
    env = envelope("POST", "/orders", body={"item": "book", "qty": 1}, headers=(header,))
    outcome = await _pipeline(gates).process(env)
    assert ("gate_paused" in _stages(outcome)) == (header[1] == "acme")


async def test_a_steered_request_replays_identically(tmp_path: Path) -> None:
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path}/g.db", migrate_first=True)
    try:
        gates = DebugGates()
        gates.add(GateSpec("g1", "before", "handler", handler_id="demo.create_order"))
        pipeline = _pipeline(gates)
        env = _order()
        held = asyncio.create_task(pipeline.process(env))
        gates.decide(await _paused(gates), Decision("resume", {"audited": "by hand"},
                                                    ("item",)))
        outcome = await held
        await store.record([env], list(outcome.events))
        result = await Replayer(app=build(), engine=store.engine).replay(env.request_id)
        assert result.identical, result.divergence
        assert json.loads(result.replayed_body)["audited"] == "by hand"
    finally:
        await store.close()
