"""The playground on PostgreSQL with 100,000 recorded requests: list, record, live tail.

Records N requests into a fresh database (one request of the demo app run through the
real pipeline, then cloned with new ids and times, written by ``Store.record`` as the
recorder writes them), then measures, in one run:

- server time of the list's first page (no filter, and filtered by handler and status)
  and of one request's record, p50 / p99 over repeated calls of the API's own methods;
- the same over HTTP (a real server on loopback), client-side;
- the live tail: requests recorded at ``--rate`` per second for ``--tail-seconds``, how
  many the event stream delivered and how far behind (p50 / p99 of record-to-event).

Usage:  .venv/bin/python bench/playground.py [--requests 100000] [--rate 800]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness.services import create_database, drop_database, pg_url  # noqa: E402
from gati.core.context import ModuleEntry, Services  # noqa: E402
from gati.core.effects import CallPolicy  # noqa: E402
from gati.core.envelopes import LifecycleEvent, RequestEnvelope  # noqa: E402
from gati.core.ids import RequestIdGenerator  # noqa: E402
from gati.core.pipeline import Pipeline  # noqa: E402
from gati.core.ports import SystemClock  # noqa: E402
from gati.playground import Playground, PlaygroundServer  # noqa: E402
from gati.playground.server import uvicorn_server  # noqa: E402
from gati.store import Store, open_store  # noqa: E402
from tests.apps.playground_app import Stock, build  # noqa: E402

IDS = RequestIdGenerator()


async def template() -> tuple[RequestEnvelope, list[LifecycleEvent]]:
    pipeline = Pipeline(build(), Services(modules={"stock": ModuleEntry(Stock(), CallPolicy())},
                                          config={}), clock=SystemClock())
    now = SystemClock().now_us()
    env = RequestEnvelope("t", "gw", "t", 0, now, now + 10_000_000, "POST", "/orders", "",
                          (("content-type", "application/json"),),
                          json.dumps({"item": "book", "qty": 2}).encode())
    return env, list((await pipeline.process(env)).events)


def clone(env: RequestEnvelope, events: list[LifecycleEvent], at_us: int,
          status: int) -> tuple[RequestEnvelope, list[LifecycleEvent]]:
    rid = IDS.new()
    shift = at_us - env.received_at_us
    out = [replace(e, request_id=rid, at_us=e.at_us + shift,
                   status=status if e.status is not None else None) for e in events]
    return replace(env, request_id=rid, received_at_us=at_us,
                   deadline_at_us=env.deadline_at_us + shift), out


async def fill(store: Store, n: int, start_us: int) -> list[str]:
    env, events = await template()
    ids: list[str] = []
    for first in range(0, n, 1000):
        envs, evs = [], []
        for i in range(first, min(n, first + 1000)):
            e, es = clone(env, events, start_us + i * 1000, 500 if i % 50 == 0 else 201)
            envs.append(e)
            evs.extend(es)
            ids.append(e.request_id)
        await store.record(envs, evs)
    return ids


def pct(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {"p50_ms": round(statistics.median(xs), 2),
            "p99_ms": round(xs[min(len(xs) - 1, int(len(xs) * 0.99))], 2), "n": len(xs)}


async def timed(fn: Any, repeat: int) -> dict[str, float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t) * 1000)
    return pct(out)


async def tail(store: Store, url: str, rate: int, seconds: float) -> dict[str, Any]:
    env, events = await template()
    sent: dict[str, float] = {}
    lags: list[float] = []
    async with httpx.AsyncClient(timeout=None) as client, \
            client.stream("GET", url + "api/tail") as resp:
        lines = resp.aiter_lines()
        assert await anext(lines) == ": tail"

        async def consume() -> None:
            async for line in lines:
                if line.startswith("data: "):
                    rid = json.loads(line[6:])["request_id"]
                    if rid in sent:
                        lags.append((time.perf_counter() - sent[rid]) * 1000)
                        if len(lags) == total:
                            return

        total = int(rate * seconds)
        reader = asyncio.create_task(consume())
        batch = max(1, rate // 20)  # 20 batches a second, as the recorder writes
        started = time.perf_counter()
        for b in range(0, total, batch):
            due = started + b / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            envs, evs = [], []
            for _ in range(min(batch, total - b)):
                e, es = clone(env, events, SystemClock().now_us(), 201)
                envs.append(e)
                evs.extend(es)
            await store.record(envs, evs)
            now = time.perf_counter()
            sent.update((e.request_id, now) for e in envs)
        offered = total / (time.perf_counter() - started)
        try:
            await asyncio.wait_for(reader, 30)
        except TimeoutError:
            reader.cancel()
    return {"offered_per_s": round(offered), "recorded": total, "delivered": len(lags),
            "lag": pct(lags) if lags else None}


async def main(n: int, rate: int, tail_seconds: float) -> dict[str, Any]:
    name = f"gati_bench_pg_{uuid.uuid4().hex[:8]}"
    await create_database(name)
    url = pg_url(name, driver="asyncpg")
    store = await open_store(url, migrate_first=True)
    try:
        t = time.perf_counter()
        ids = await fill(store, n, SystemClock().now_us() - n * 1000)
        fill_s = time.perf_counter() - t
        async with store.engine.connect() as conn:
            await conn.execute(sa.text("ANALYZE"))
        pg = Playground(store, app=build())
        picks = random.Random(7).choices(ids, k=200)
        it = iter(picks * 2)
        server = {
            "first_page": await timed(lambda: pg.search({}), 200),
            "first_page_handler_status": await timed(
                lambda: pg.search({"handler": "demo.create_order", "status": "5xx"}), 200),
            "after_50000_rows": await timed(lambda: pg.search({"cursor": deep}), 100)
            if (deep := await _deep_cursor(pg)) else None,
            "one_request": await timed(lambda: pg.request(next(it)), 200),
        }
        port = _free_port()
        http = uvicorn_server(PlaygroundServer(pg), "127.0.0.1", port)
        serving = asyncio.create_task(http.serve())
        while not http.started:
            if serving.done():
                await serving  # surfaces the bind error
            await asyncio.sleep(0.01)
        base = f"http://127.0.0.1:{port}/"
        async with httpx.AsyncClient(base_url=base) as c:
            over_http = {
                "first_page": await timed(lambda: c.get("/api/requests"), 200),
                "one_request": await timed(lambda: c.get(f"/api/requests/{next(it)}"), 200),
            }
        live = await tail(store, base, rate, tail_seconds)
        http.should_exit = True
        await serving
        return {"requests": n, "fill_s": round(fill_s, 1), "server": server,
                "http": over_http, "tail": live}
    finally:
        await store.close()
        await drop_database(name)


async def _deep_cursor(pg: Playground) -> str | None:
    """The cursor 50,000 rows deep (100 pages of 500): a page must cost the same there."""
    page = await pg.search({"limit": "500"})
    for _ in range(99):
        if page["next_cursor"] is None:
            return None
        page = await pg.search({"limit": "500", "cursor": page["next_cursor"]})
    cursor = page["next_cursor"]
    return str(cursor) if cursor else None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--rate", type=int, default=800)
    ap.add_argument("--tail-seconds", type=float, default=10.0)
    args = ap.parse_args()
    print(json.dumps(asyncio.run(main(args.requests, args.rate, args.tail_seconds)), indent=2))
