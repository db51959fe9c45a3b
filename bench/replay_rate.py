"""Batch replay rate, against processing the same requests live, in one run.

Records N requests of examples/users (POST /users with hooks, a database module and the
mail module) through the real pipeline into a SQLite record, then replays them all with
``Replayer.replay_many``. Reports both rates and their ratio, and the wall time of one
``gati replay ID`` command (Python start-up included). Usage:

    .venv/bin/python bench/replay_rate.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gati.cli.loader import load_app  # noqa: E402
from gati.config import Settings  # noqa: E402
from gati.core.envelopes import RequestEnvelope  # noqa: E402
from gati.core.ports import SystemClock  # noqa: E402
from gati.replay import Replayer  # noqa: E402
from gati.store import open_store  # noqa: E402
from gati.worker.runtime import WorkerRuntime  # noqa: E402


async def main(n: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="gati-replay-bench-"))
    url = f"sqlite+aiosqlite:///{tmp}/record.db"
    store = await open_store(url, migrate_first=True)
    app = load_app("examples.users.app:app")
    runtime = WorkerRuntime(app, Settings(database_url=url, worker_id="bench"))
    pipeline = await runtime.start()
    clock = SystemClock()
    envs = []
    for i in range(n):
        now = clock.now_us()
        body = json.dumps({"name": f"User {i}", "email": f"u{i}@example.com"}).encode()
        envs.append(
            RequestEnvelope(
                f"bench-{i:06d}",
                "g",
                "t",
                0,
                now,
                now + 30_000_000,
                "POST",
                "/users",
                "",
                (("content-type", "application/json"),),
                body,
            )
        )
    started = time.perf_counter()
    outcomes = [await pipeline.process(env) for env in envs]
    live_s = time.perf_counter() - started
    for start in range(0, n, 500):
        chunk = range(start, min(n, start + 500))
        await store.record([envs[i] for i in chunk], [e for i in chunk for e in outcomes[i].events])
    await runtime.close()
    batch = await Replayer(app=app, engine=store.engine).replay_many([e.request_id for e in envs])
    await store.close()
    assert batch.ok, (batch.diverged[:1], batch.failed[:1])
    return {
        "requests": n,
        "live_processing_per_s": round(n / live_s, 1),
        "batch_replay_per_s": round(batch.rate_per_s, 1),
        "replay_to_live_ratio": round(batch.rate_per_s / (n / live_s), 2),
        "url": url,
        "first_id": envs[0].request_id,
    }


def one_replay_wall_s(url: str, request_id: str) -> float:
    env = {**os.environ, "GATI_DATABASE_URL": url, "GATI_APP": "examples.users.app:app"}
    started = time.perf_counter()
    subprocess.run([str(ROOT / ".venv/bin/gati"), "replay", request_id], env=env, check=True,
                   capture_output=True, cwd=ROOT)
    return round(time.perf_counter() - started, 2)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    result = asyncio.run(main(args.requests))
    result["gati_replay_one_wall_s"] = one_replay_wall_s(result.pop("url"),
                                                         result.pop("first_id"))
    print(json.dumps(result, indent=2))
