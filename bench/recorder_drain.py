"""Recorder drain from a Kafka backlog, against a bare consumer reading the same backlog.

Builds a backlog of N requests on fresh topics (a RequestEnvelope and a LifecycleBatch
per request), then, on the same backlog:

1. baseline: a bare consumer of ``gati.log.kafka`` fetching every message (no decoding,
   no database): how fast this machine's Kafka hands the backlog over;
2. the recorder (in this process, its own consumer group) writing it all into a fresh
   Postgres database, until every row is there.

The backlog: ``--backlog synthetic`` (default) is 18 made-up steps per request;
``--backlog users`` is the request path's own steps: the users example's pipeline runs
``--samples`` POST /users in this process (as bench/replay_rate.py does), and the
backlog is N copies of those real envelopes and lifecycle batches under new request ids
and times, encoded as the worker encodes them.

Reports rows/s of each (median of the repeats, spread shown) and the ratio, as JSON on
stdout (the last thing printed). With ``--profile`` the recorder runs under cProfile and
the top functions go to stderr.

    .venv/bin/python bench/recorder_drain.py [--backlog users] [--requests 10000]
        [--repeats 3] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from bench.store_write import STAGES  # noqa: E402
from gati.codec.envelopes import EnvelopeCodec  # noqa: E402
from gati.config import Settings  # noqa: E402
from gati.core.envelopes import LifecycleEvent, RequestEnvelope  # noqa: E402
from gati.core.ports import OutMessage, TopicSpec  # noqa: E402
from gati.log.kafka import KafkaLog  # noqa: E402
from gati.recorder.recorder import Recorder  # noqa: E402
from gati.store.store import open_store  # noqa: E402

ADMIN = os.environ.get("GATI_PG_ADMIN_URL", "postgresql://gati:gati@127.0.0.1:5432/postgres")
KAFKA = os.environ.get("GATI_KAFKA_BOOTSTRAP", "localhost:9092")


async def real_samples(n: int) -> list[tuple[RequestEnvelope, list[LifecycleEvent]]]:
    """``n`` POST /users through the users example's pipeline: envelope and steps each."""
    from gati.cli.loader import load_app
    from gati.worker.runtime import WorkerRuntime

    tmp = Path(tempfile.mkdtemp(prefix="gati-drain-bench-"))
    url = f"sqlite+aiosqlite:///{tmp}/app.db"
    store = await open_store(url, migrate_first=True)
    runtime = WorkerRuntime(load_app("examples.users.app:app"),
                            Settings(database_url=url, worker_id="bench"))
    pipeline = await runtime.start()
    samples = []
    try:
        for i in range(n):
            now = int(time.time() * 1e6)
            body = json.dumps({"name": f"User {i}", "email": f"u{i}@example.com"}).encode()
            env = RequestEnvelope(f"sample-{i:06d}", "gw", "t", 0, now, now + 30_000_000,
                                  "POST", "/users", "", (("content-type", "application/json"),),
                                  body)
            outcome = await pipeline.process(env)
            samples.append((env, list(outcome.events)))
    finally:
        await runtime.close()
        await store.close()
    return samples


async def users_backlog(log: KafkaLog, settings: Settings, n: int,
                        samples: list[tuple[RequestEnvelope, list[LifecycleEvent]]]) -> int:
    """N copies of the real samples, each under a new request id and shifted times."""
    codec = EnvelopeCodec()
    base = int(time.time() * 1e6)
    messages: list[OutMessage] = []
    rows = 0
    for i in range(n):
        env, events = samples[i % len(samples)]
        rid = f"drain-{i:07d}"
        shift = base + i - env.received_at_us
        copy = replace(env, request_id=rid, received_at_us=env.received_at_us + shift,
                       deadline_at_us=env.deadline_at_us + shift)
        steps = [replace(ev, request_id=rid, at_us=ev.at_us + shift) for ev in events]
        key = rid.encode()
        messages.append(OutMessage(settings.requests_topic, codec.encode_request(copy), key))
        messages.append(OutMessage(settings.lifecycle_topic, codec.encode_batch(rid, steps), key))
        rows += 1 + len(steps)
        if len(messages) >= 2000:
            await log.send_batch(messages)
            messages = []
    if messages:
        await log.send_batch(messages)
    return rows


async def backlog(log: KafkaLog, settings: Settings, n: int) -> int:
    codec = EnvelopeCodec()
    now = int(time.time() * 1e6)
    messages: list[OutMessage] = []
    rows = 0
    for i in range(n):
        rid = f"drain-{i:07d}"
        key = rid.encode()
        body = json.dumps({"name": f"User {i}", "email": f"u{i}@example.com"}).encode()
        env = RequestEnvelope(rid, "gw", "t", 0, now, now + 30_000_000, "POST", "/users", "",
                              (("content-type", "application/json"),), body)
        detail = json.dumps({"kind": "module", "target": "db.insert_user",
                             "args": [{"name": f"User {i}"}], "result": {"id": i}})
        events = [LifecycleEvent(rid, seq, stage, now + seq, "users.create_user",
                                 201 if stage == "responded" else None, None, detail, "w1")
                  for seq, stage in enumerate(STAGES)]
        messages.append(OutMessage(settings.requests_topic, codec.encode_request(env), key))
        messages.append(OutMessage(settings.lifecycle_topic,
                                   codec.encode_batch(rid, events), key))
        rows += 1 + len(events)
        if len(messages) >= 2000:
            await log.send_batch(messages)
            messages = []
    if messages:
        await log.send_batch(messages)
    return rows


async def bare_consume(settings: Settings, total_messages: int) -> float:
    log = KafkaLog(KAFKA, client_id="bench-bare")
    await log.start()
    sub = log.subscribe([settings.requests_topic, settings.lifecycle_topic],
                        group=f"bare-{uuid.uuid4().hex[:6]}")
    await sub.start()
    seen = 0
    started = time.perf_counter()
    while seen < total_messages:
        seen += len(await sub.fetch(max_records=settings.recorder_batch_size, timeout_s=0.5))
    elapsed = time.perf_counter() - started
    await sub.stop()
    await log.stop()
    return elapsed


async def drain(settings: Settings, n: int, rows: int, profile: bool) -> float:
    store = await open_store(settings.database_url, migrate_first=True)
    log = KafkaLog(KAFKA, client_id="bench-recorder")
    await log.start()
    recorder = Recorder(settings, log, store)
    profiler = cProfile.Profile() if profile else None
    task = asyncio.create_task(recorder.run())
    await recorder.ready.wait()
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    while recorder.stats.requests < n or recorder.stats.requests + recorder.stats.events < rows:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    recorder.stop()
    await task
    await log.stop()
    await store.close()
    return elapsed


async def run(n: int, repeats: int, profile: bool, batch_size: int, kind: str,
              n_samples: int) -> dict[str, Any]:
    samples = await real_samples(n_samples) if kind == "users" else []
    admin = await asyncpg.connect(ADMIN)
    base = ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    bare_s: list[float] = []
    drain_s: list[float] = []
    rows = 0
    try:
        for r in range(repeats):
            # Each repeat: its own topics (so its own consumer groups) and database.
            tag = uuid.uuid4().hex[:8]
            name = f"gati_drain_{tag}"
            settings = Settings(kafka_bootstrap=KAFKA, topic_prefix=f"bdrain{tag}",
                                database_url=f"{base}/{name}", recorder_batch_size=batch_size)
            producer = KafkaLog(KAFKA, client_id="bench-backlog")
            await producer.start()
            await producer.ensure_topics([
                TopicSpec(settings.requests_topic, settings.requests_partitions),
                TopicSpec(settings.lifecycle_topic, settings.requests_partitions)])
            rows = (await users_backlog(producer, settings, n, samples) if samples
                    else await backlog(producer, settings, n))
            await producer.stop()
            bare_s.append(await bare_consume(settings, 2 * n))
            await admin.execute(f'CREATE DATABASE "{name}"')
            try:
                drain_s.append(await drain(settings, n, rows, profile and r == repeats - 1))
            finally:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
    bare = statistics.median(rows / s for s in bare_s)
    rec = statistics.median(rows / s for s in drain_s)
    return {"backlog": kind, "requests": n, "rows": rows,
            "rows_per_request": round(rows / n, 2), "repeats": repeats, "batch_size": batch_size,
            "bare_consume_rows_per_s": sorted(round(rows / s) for s in bare_s),
            "recorder_rows_per_s": sorted(round(rows / s) for s in drain_s),
            "median": {"bare_consume": round(bare), "recorder": round(rec)},
            "recorder_over_bare": round(rec / bare, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--backlog", choices=("synthetic", "users"), default="synthetic")
    parser.add_argument("--samples", type=int, default=200,
                        help="real requests run for --backlog users (copied N times)")
    parser.add_argument("--batch-size", type=int, default=Settings().recorder_batch_size,
                        help="messages per recorder batch (GATI_RECORDER_BATCH_SIZE)")
    args = parser.parse_args()
    result = asyncio.run(run(args.requests, args.repeats, args.profile, args.batch_size,
                                 args.backlog, args.samples))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
