"""Debug gates from a standalone ``gati playground`` on live Kafka workers.

Gateway, worker and recorder run as their own processes on Kafka and PostgreSQL; the
playground is a fourth, reaching the worker only through the control topics. A gate set
through its API pauses a live request inside the worker, other requests keep flowing
meanwhile, an lctx edit and a resume let it finish, and the steering is in the record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import Proc, System, eventually, free_port, start_system

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
POST = {"X-Gati-Playground": "1"}


@pytest.fixture(scope="module")
def system(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    s = start_system("kafka", tmp_path_factory.mktemp("gates-kafka"), request,
                     app="tests.apps.playground_app:app", GATI_ENVIRONMENT="development")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def playground(system: System, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``gati playground`` as its own process, beside the system, on the same broker."""
    port = free_port()
    proc = Proc("playground", ["playground", "--port", str(port), "--app",
                               "tests.apps.playground_app:app"], system.env,
                tmp_path_factory.mktemp("pg") / "playground.log").start()
    system.procs["playground"] = proc  # stopped, and its log shown, with the others
    url = f"http://127.0.0.1:{port}"

    async def listening() -> bool:
        assert proc.alive(), proc.tail()
        try:
            async with httpx.AsyncClient(timeout=2) as c:
                return (await c.get(f"{url}/api/gates")).status_code == 200
        except httpx.TransportError:
            return False

    asyncio.run(eventually(listening, within=60, what="gati playground to listen"))
    yield url


async def test_a_gate_set_in_the_playground_pauses_a_kafka_worker_request(
        system: System, playground: str) -> None:
    async with system.client(timeout=60) as gw, \
            httpx.AsyncClient(base_url=playground, timeout=30) as pg:
        gate = (await pg.post("/api/gates", headers=POST, json={
            "handler_id": "demo.create_order", "point": "before", "target": "handler",
            "debug_only": True})).json()
        assert gate["gate_id"], gate

        async def armed() -> list[str]:
            state = (await pg.get("/api/gates")).json()
            return [w for g in state["gates"] if g["gate_id"] == gate["gate_id"]
                    for w in g["armed_on"]]

        [worker] = await eventually(armed, within=30, what="the gate in force on the worker")
        held = asyncio.create_task(gw.post("/orders", json={"item": "lamp", "qty": 2},
                                           headers={"X-Gati-Debug": "1"}))

        async def paused() -> list[dict[str, Any]]:
            return list((await pg.get("/api/gates")).json()["paused"])

        [pause] = await eventually(paused, within=30, what="the order paused in the worker")
        assert pause["worker_id"] == worker and pause["target"] == "handler"
        assert pause["state"] == {"audited": True}
        # The paused request holds one slot of the worker, not its partitions.
        for i in range(5):
            flowing = await gw.get(f"/greet/k{i}")
            assert flowing.status_code == 200, flowing.text
        plain = await gw.post("/orders", json={"item": "pen", "qty": 1})  # no debug header
        assert plain.status_code == 201 and not held.done()

        decided = await pg.post(f"/api/paused/{pause['pause_id']}", headers=POST,
                                json={"action": "resume", "set": {"audited": "remotely"}})
        assert decided.status_code == 200, decided.text
        answer = await asyncio.wait_for(held, 30)
        assert answer.status_code == 201 and answer.json()["audited"] == "remotely"
        assert await eventually(lambda: _none_paused(pg), within=30, what="the pause gone")
        unknown = await pg.post(f"/api/paused/{pause['pause_id']}", headers=POST,
                                json={"action": "resume"})
        assert unknown.status_code == 404

        rid = answer.headers["x-request-id"]

        async def steered() -> list[str]:
            r = await pg.get(f"/api/requests/{rid}")
            return [s["stage"] for s in r.json()["steps"]] if r.status_code == 200 \
                and r.json()["answered"] else []

        stages = await eventually(steered, within=30, what="the steered order recorded")
        assert [s for s in stages if s.startswith("gate_")] == \
            ["gate_paused", "gate_edited", "gate_resumed"]
        replay = (await pg.post(f"/api/requests/{rid}/replay", headers=POST, json={})).json()
        assert replay["identical"] is True, replay["divergence"]

        lifted = await pg.post(f"/api/gates/{gate['gate_id']}/delete", headers=POST)
        assert lifted.status_code == 200
        assert await eventually(lambda: _lifted(pg, gate["gate_id"]), within=30,
                                what="the gate lifted on the worker")
        free = await gw.post("/orders", json={"item": "cup", "qty": 1},
                             headers={"X-Gati-Debug": "1"})
        assert free.status_code == 201


async def test_gates_on_a_handler_the_app_lacks_are_refused(playground: str) -> None:
    async with httpx.AsyncClient(base_url=playground, timeout=30) as pg:
        bad = await pg.post("/api/gates", headers=POST, json={"handler_id": "demo.nope"})
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "handler_id"
        gates = (await pg.get("/api/gates")).json()["gates"]
        assert all(g["handler_id"] != "demo.nope" for g in gates)  # nothing was set


async def _none_paused(pg: httpx.AsyncClient) -> bool:
    return not (await pg.get("/api/gates")).json()["paused"]


async def _lifted(pg: httpx.AsyncClient, gate_id: str) -> bool:
    """No worker reports the gate in force any more (the workers still report)."""
    workers = (await pg.get("/api/gates")).json()["workers"]
    return bool(workers) and all(gate_id not in ids for ids in workers.values())
