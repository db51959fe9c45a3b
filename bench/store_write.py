"""Recorder writes into Postgres: COPY staging against the multi-row INSERT, in one run.

Both write the same shape of batch through ``Store.record`` (what the recorder calls once
per poll): B requests with their lifecycle steps (18 per request, as POST /users with
hooks and modules records), details of realistic size. Rounds alternate between the two
ways and use fresh request ids each time, so both see the same table size and the same
machine noise. Reports rows/s per way (median of the rounds, spread shown) and the
ratio. Usage:

    .venv/bin/python bench/store_write.py [--requests 500] [--rounds 5]

It needs the Postgres of ``scripts/postgres.sh`` (``GATI_PG_ADMIN_URL`` overrides).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from gati.core.envelopes import LifecycleEvent, RequestEnvelope  # noqa: E402
from gati.store.store import Store, create_engine, open_store  # noqa: E402

ADMIN = os.environ.get("GATI_PG_ADMIN_URL", "postgresql://gati:gati@127.0.0.1:5432/postgres")
STAGES = ["received", "routed", "hook_start", "effect", "hook_end", "hook_start", "effect",
          "hook_end", "handler_start", "effect", "effect", "effect", "handler_end",
          "hook_start", "effect", "hook_end", "log", "responded"]


def batch(n: int, tag: str) -> tuple[list[RequestEnvelope], list[LifecycleEvent]]:
    now = int(time.time() * 1e6)
    envs, events = [], []
    for i in range(n):
        rid = f"{tag}-{i:06d}"
        body = json.dumps({"name": f"User {i}", "email": f"u{i}@example.com"}).encode()
        envs.append(RequestEnvelope(rid, "gw", "t", 0, now, now + 30_000_000, "POST", "/users",
                                    "", (("content-type", "application/json"),), body))
        for seq, stage in enumerate(STAGES):
            detail = json.dumps({"kind": "module", "target": "db.insert_user",
                                 "args": [{"name": f"User {i}", "email": f"u{i}@example.com"}],
                                 "result": {"id": i}, "ms": 0.412})
            events.append(LifecycleEvent(rid, seq, stage, now + seq, "users.create_user",
                                         201 if stage == "responded" else None, None,
                                         detail, "w1"))
    return envs, events


async def run(requests: int, rounds: int) -> dict[str, Any]:
    name = f"gati_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + name
    try:
        migrated = await open_store(url, migrate_first=True)
        await migrated.close()
        ways = {"insert": Store(create_engine(url), copy_events=False),
                "copy": Store(create_engine(url), copy_events=True)}
        rates: dict[str, list[float]] = {w: [] for w in ways}
        for warm in ways.values():  # connections, prepared statements, the temp table
            await warm.record(*batch(50, f"warm-{uuid.uuid4().hex[:6]}"))
        for r in range(rounds):
            order = list(ways) if r % 2 == 0 else list(reversed(ways))
            for way in order:
                envs, events = batch(requests, f"{way}-{r}-{uuid.uuid4().hex[:6]}")
                started = time.perf_counter()
                await ways[way].record(envs, events)
                rates[way].append(len(events) / (time.perf_counter() - started))
        for store in ways.values():
            await store.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    med = {w: statistics.median(v) for w, v in rates.items()}
    return {"requests_per_batch": requests, "rows_per_batch": requests * len(STAGES),
            "rounds": rounds, "rows_per_s": {w: sorted(round(x) for x in v)
                                             for w, v in rates.items()},
            "median_rows_per_s": {w: round(m) for w, m in med.items()},
            "copy_over_insert": round(med["copy"] / med["insert"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="requests per batch")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    result = asyncio.run(run(args.requests, args.rounds))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
