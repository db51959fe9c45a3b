"""What one request paused at a debug gate costs the others: throughput, same run.

``gati dev`` of the demo app in this process; closed-loop clients send ``GET
/greet/{n}`` for ``--seconds``, alternating rounds with no request paused and with one
``POST /orders`` held at a gate before its handler (``X-Gati-Debug``, so only it
pauses). Reports requests/s and p50 / p99 latency of each round and the ratio.

Usage:  .venv/bin/python bench/playground_gates.py [--seconds 5] [--clients 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gati.config import Settings  # noqa: E402
from gati.dev.runner import run_dev  # noqa: E402
from tests.apps.playground_app import build  # noqa: E402

API = "/_gati/playground/api"
POST = {"X-Gati-Playground": "1"}


async def load(c: httpx.AsyncClient, seconds: float, clients: int) -> dict[str, Any]:
    lat: list[float] = []
    end = time.perf_counter() + seconds

    async def one(i: int) -> None:
        n = 0
        while time.perf_counter() < end:
            t = time.perf_counter()
            r = await c.get(f"/greet/c{i}-{n}")
            assert r.status_code == 200, r.text
            lat.append((time.perf_counter() - t) * 1000)
            n += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(clients)))
    took = time.perf_counter() - started
    lat.sort()
    return {"req_per_s": round(len(lat) / took, 1), "p50_ms": round(statistics.median(lat), 2),
            "p99_ms": round(lat[int(len(lat) * 0.99)], 2)}


async def paused_round(c: httpx.AsyncClient, seconds: float, clients: int) -> dict[str, Any]:
    held = asyncio.create_task(c.post("/orders", json={"item": "book", "qty": 1},
                                      headers={"X-Gati-Debug": "1"}))
    for _ in range(3000):  # until the held request is paused (30 s at most)
        if (await c.get(f"{API}/gates")).json()["paused"]:
            break
        await asyncio.sleep(0.01)
    result = await load(c, seconds, clients)
    [pause] = (await c.get(f"{API}/gates")).json()["paused"]  # still paused throughout
    await c.post(f"{API}/paused/{pause['pause_id']}", headers=POST, json={})
    assert (await held).status_code == 201
    return result


async def main(seconds: float, clients: int, rounds: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="gati-gates-bench-"))
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp}/dev.db",
                        environment="development", worker_concurrency=16)
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    dev = asyncio.create_task(run_dev(build(), settings, host="127.0.0.1", port=8931,
                                      on_ready=ready.set_result))
    url = await asyncio.wait_for(asyncio.shield(ready), 60)
    out: dict[str, list[dict[str, Any]]] = {"free": [], "one_paused": []}
    try:
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:
            await c.post(f"{API}/gates", headers=POST, json={
                "handler_id": "demo.create_order", "target": "handler", "debug_only": True,
                "timeout_s": 600})
            await load(c, 1.0, clients)  # warm-up
            for _ in range(rounds):
                out["free"].append(await load(c, seconds, clients))
                out["one_paused"].append(await paused_round(c, seconds, clients))
    finally:
        dev.cancel()
        await asyncio.gather(dev, return_exceptions=True)
    free = statistics.median(r["req_per_s"] for r in out["free"])
    held = statistics.median(r["req_per_s"] for r in out["one_paused"])
    return {"rounds": out, "median_req_per_s": {"free": free, "one_paused": held},
            "ratio_paused_to_free": round(held / free, 3)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    print(json.dumps(asyncio.run(main(a.seconds, a.clients, a.rounds)), indent=2))
