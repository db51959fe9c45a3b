"""What one request paused at a debug gate costs the others, on Kafka workers.

The full path as four processes (gateway, worker, recorder on Kafka and a fresh
PostgreSQL database, and a standalone ``gati playground`` steering the worker over the
control topic); closed-loop clients send ``GET /greet/{n}`` through the gateway in
alternating rounds, with no request paused and with one ``POST /orders`` held at a gate
before its handler (``X-Gati-Debug``, so only it pauses). Reports each round's
requests/s and latency, and the ratio of the medians.

Usage:  .venv/bin/python bench/playground_gates_kafka.py [--seconds 5] [--clients 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from playground_gates import load  # noqa: E402

from tests.conftest import PG_URL as POSTGRES  # noqa: E402
from tests.conftest import _create_database, _drop_database  # noqa: E402
from tests.support import KafkaSystem, Proc, eventually, free_port  # noqa: E402

POST = {"X-Gati-Playground": "1"}
APP = "tests.apps.playground_app:app"


async def paused_round(gw: httpx.AsyncClient, pg: httpx.AsyncClient, seconds: float,
                       clients: int) -> dict[str, Any]:
    held = asyncio.create_task(gw.post("/orders", json={"item": "book", "qty": 1},
                                       headers={"X-Gati-Debug": "1"}))

    async def paused() -> list[dict[str, Any]]:
        return list((await pg.get("/api/gates")).json()["paused"])

    await eventually(paused, within=30, what="the order paused")
    result = await load(gw, seconds, clients)
    [pause] = await paused()  # still paused throughout the round
    await pg.post(f"/api/paused/{pause['pause_id']}", headers=POST, json={})
    assert (await held).status_code == 201
    return result


async def measure(gateway: str, playground: str, seconds: float, clients: int,
                  rounds: int) -> dict[str, Any]:
    out: dict[str, list[dict[str, Any]]] = {"free": [], "one_paused": []}
    async with httpx.AsyncClient(base_url=gateway, timeout=60) as gw, \
            httpx.AsyncClient(base_url=playground, timeout=30) as pg:

        async def listening() -> bool:
            try:
                return (await pg.get("/api/gates")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(listening, within=60, what="gati playground")
        gate = (await pg.post("/api/gates", headers=POST, json={
            "handler_id": "demo.create_order", "target": "handler", "debug_only": True,
            "timeout_s": 600})).json()

        async def armed() -> bool:
            state = (await pg.get("/api/gates")).json()
            return any(g["armed_on"] for g in state["gates"] if g["gate_id"] == gate["gate_id"])

        await eventually(armed, within=30, what="the gate in force")
        await load(gw, 1.0, clients)  # warm-up
        for _ in range(rounds):
            out["free"].append(await load(gw, seconds, clients))
            out["one_paused"].append(await paused_round(gw, pg, seconds, clients))
    free = statistics.median(r["req_per_s"] for r in out["free"])
    held = statistics.median(r["req_per_s"] for r in out["one_paused"])
    return {"rounds": out, "median_req_per_s": {"free": free, "one_paused": held},
            "ratio_paused_to_free": round(held / free, 3)}


def main(seconds: float, clients: int, rounds: int, bootstrap: str) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="gati-gates-kafka-bench-"))
    db = asyncio.run(_create_database(POSTGRES))
    system = KafkaSystem.start(tmp, bootstrap=bootstrap, database_url=db, app=APP,
                               extra_env={"GATI_ENVIRONMENT": "development"})
    try:
        port = free_port()
        system.procs["playground"] = Proc(
            "playground", ["playground", "--port", str(port), "--app", APP], system.env,
            tmp / "playground.log").start()
        return asyncio.run(measure(system.base_url, f"http://127.0.0.1:{port}", seconds,
                                   clients, rounds))
    finally:
        system.stop(replay=False)
        asyncio.run(_drop_database(POSTGRES, db))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bootstrap", default="localhost:9092")
    a = ap.parse_args()
    print(json.dumps(main(a.seconds, a.clients, a.rounds, a.bootstrap), indent=2))
