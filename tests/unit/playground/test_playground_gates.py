"""Debug gates through the playground of ``gati dev``: pause, edit, resume, replay."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gati.config import Settings
from gati.core.gates import DebugGates
from gati.dev.runner import run_dev
from gati.store import Store
from tests.apps.playground_app import build
from tests.support import eventually, free_port
from tests.unit.playground._seed import served

POST = {"X-Gati-Playground": "1"}
API = "/_gati/playground/api"


@pytest.fixture
async def dev(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/dev.db",
                        environment="development", worker_concurrency=8)
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_dev(build(), settings, host="127.0.0.1", port=free_port(),
                                       on_ready=ready.set_result))
    try:
        url = await asyncio.wait_for(asyncio.shield(ready), 60)
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield client
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _paused(c: httpx.AsyncClient) -> dict[str, Any]:
    async def probe() -> list[dict[str, Any]]:
        return list((await c.get(f"{API}/gates")).json()["paused"])

    [pause] = await eventually(probe, within=20, what="a paused request")
    return pause


async def test_a_gated_request_pauses_is_edited_resumes_and_replays(
        dev: httpx.AsyncClient) -> None:
    gate = await dev.post(f"{API}/gates", headers=POST, json={
        "handler_id": "demo.create_order", "point": "before", "target": "handler",
        "debug_only": True})
    assert gate.status_code == 200, gate.text
    held = asyncio.create_task(dev.post("/orders", json={"item": "book", "qty": 2},
                                        headers={"X-Gati-Debug": "1"}))
    pause = await _paused(dev)
    assert pause["state"] == {"audited": True} and pause["target"] == "handler"
    # Other requests keep flowing while one is paused.
    other = await dev.post("/orders", json={"item": "pen", "qty": 1})
    assert other.status_code == 201 and not held.done()
    decided = await dev.post(f"{API}/paused/{pause['pause_id']}", headers=POST,
                             json={"action": "resume", "set": {"audited": "by hand"}})
    assert decided.status_code == 200, decided.text
    answer = await held
    assert answer.status_code == 201 and answer.json()["audited"] == "by hand"
    rid = answer.headers["x-request-id"]

    async def recorded() -> dict[str, Any] | None:
        r = await dev.get(f"{API}/requests/{rid}")
        return r.json() if r.status_code == 200 and r.json()["answered"] else None

    record = await eventually(recorded, within=20, what="the steered request recorded")
    stages = [s["stage"] for s in record["steps"]]
    assert {"gate_paused", "gate_edited", "gate_resumed"} <= set(stages)
    replay = (await dev.post(f"{API}/requests/{rid}/replay", headers=POST, json={})).json()
    assert replay["identical"] is True, replay["divergence"]
    assert replay["replayed"]["body"]["audited"] == "by hand"
    again = await dev.post(f"{API}/paused/{pause['pause_id']}", headers=POST, json={})
    assert again.status_code == 404


async def test_an_aborted_request_answers_409_and_a_lifted_gate_stops_pausing(
        dev: httpx.AsyncClient) -> None:
    gate = (await dev.post(f"{API}/gates", headers=POST, json={
        "path": "/greet", "point": "after", "target": "audit"})).json()
    held = asyncio.create_task(dev.get("/greet/ada"))
    pause = await _paused(dev)
    await dev.post(f"{API}/paused/{pause['pause_id']}", headers=POST, json={"action": "abort"})
    answer = await held
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "debug_aborted"
    lifted = await dev.post(f"{API}/gates/{gate['gate_id']}/delete", headers=POST)
    assert lifted.status_code == 200
    assert (await dev.get("/greet/bob")).status_code == 200
    assert (await dev.get(f"{API}/gates")).json()["gates"] == []


@pytest.mark.parametrize(("body", "field"), [
    ({"handler_id": "demo.nope", "target": "handler"}, "handler_id"),
    ({"handler_id": "demo.greet", "target": "nosuchhook"}, "target"),
    ({"handler_id": "demo.greet", "point": "during"}, "point"),
    ({"target": "handler"}, "handler_id"),
    ({"path": "/greet", "timeout_s": 0}, "timeout_s"),
    ({"path": "/greet", "header": "no-colon"}, "header"),
    ({"path": "/greet", "colour": "red"}, "colour"),
])
async def test_a_gate_that_could_never_match_is_refused_and_nothing_is_set(
        dev: httpx.AsyncClient, body: dict[str, Any], field: str) -> None:
    resp = await dev.post(f"{API}/gates", headers=POST, json=body)
    assert resp.status_code == 400 and resp.json()["error"]["field"] == field, resp.text
    assert (await dev.get(f"{API}/gates")).json()["gates"] == []


async def test_bad_decisions_are_400(dev: httpx.AsyncClient) -> None:
    for body, field in (({"action": "explode"}, "action"), ({"set": [1]}, "set"),
                        ({"delete": "x"}, "delete")):
        resp = await dev.post(f"{API}/paused/pause-1", headers=POST, json=body)
        assert resp.status_code == 400 and resp.json()["error"]["field"] == field


async def test_gates_are_refused_in_production_and_absent_without_a_worker(
        store: Store, ids: dict[str, str]) -> None:
    async with served(store, gates=DebugGates(),
                      settings=Settings(environment="production")) as c:
        resp = await c.post("/api/gates", headers=POST, json={"path": "/greet"})
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "gates_refused"
    async with served(store) as c:
        assert (await c.get("/api/gates")).json()["available"] is False
        resp = await c.post("/api/gates", headers=POST, json={"path": "/greet"})
        assert resp.status_code == 409 and resp.json()["error"]["code"] == "no_gates"
