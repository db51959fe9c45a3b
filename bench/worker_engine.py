"""The worker's consumer: faust's agent against a bare aiokafka loop, same Processor.

Issue 17 asks whether faust's consumer is what limits the worker, measured against a bare
aiokafka consumer in the same run. Both engines run the same ``Processor`` (pipeline,
lifecycle batch, reply, effect journal) over the same backlog of ``N`` requests of the
peers app (``bench/peers/gati_app.py``: a ~1.2 KB order, ~60 µs of handler CPU):

- ``faust``: ``gati worker bench.peers.gati_app:app`` with ``GATI_WORKER_ENGINE=faust``;
- ``aiokafka``: the same command with ``GATI_WORKER_ENGINE=aiokafka``
  (``gati.worker.kafka_worker``: ``LogWorker`` over ``KafkaLog``'s group subscription,
  static membership, revocation that waits for in-flight requests, commits every 0.5 s).

Each run gets its own topics and database; the backlog is produced before the worker
starts, so the figure is the worker draining it at full speed: replies per second and
the worker process's CPU per request between its first and its last reply (start-up
excluded), plus the broker's CPU over the same span (shared with anything else running).
Rounds alternate the order of the engines.

    .venv/bin/python bench/worker_engine.py [--requests 4000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness.procs import Proc, base_env  # noqa: E402
from bench.harness.services import (  # noqa: E402
    KAFKA,
    KafkaOffsets,
    create_database,
    delete_topics,
    drop_database,
    pg_url,
)
from bench.peers.handler import sample_order  # noqa: E402
from gati.codec.envelopes import EnvelopeCodec  # noqa: E402
from gati.config import Settings, from_env  # noqa: E402
from gati.core.envelopes import RequestEnvelope  # noqa: E402
from gati.core.ports import OutMessage, SystemClock  # noqa: E402
from gati.log.kafka import KafkaLog  # noqa: E402
from gati.wiring import Role, topics  # noqa: E402

APP = "bench.peers.gati_app:app"
GATI = str(ROOT / ".venv" / "bin" / "gati")


async def backlog(settings: Settings, n: int) -> None:
    """``n`` request envelopes on the requests topic, as a gateway would append them."""
    gateway = settings.effective_gateway_id()
    out = KafkaLog(KAFKA, client_id="bench-backlog", linger_ms=5)
    await out.start()
    try:
        await out.ensure_topics(topics(settings, Role.GATEWAY, gateway_id=gateway)
                                + topics(settings, Role.WORKER))
        codec, clock, tag = EnvelopeCodec(), SystemClock(), uuid.uuid4().hex[:8]
        body = json.dumps(sample_order()).encode()
        for start in range(0, n, 500):
            batch = []
            for i in range(start, min(n, start + 500)):
                now = clock.now_us()
                env = RequestEnvelope(
                    f"{tag}-{i:07d}", gateway, settings.reply_topic(gateway), 0, now,
                    now + 600_000_000, "POST", "/work", "",
                    (("content-type", "application/json"),), body)
                batch.append(OutMessage(settings.requests_topic, codec.encode_request(env),
                                        env.request_id.encode()))
            await out.send_batch(batch)
    finally:
        await out.stop()


def _broker() -> psutil.Process | None:
    for p in psutil.process_iter(["cmdline"]):
        if any("kafka.Kafka" in part for part in p.info["cmdline"] or []):
            return p
    return None


def _cpu(p: psutil.Process | None) -> float:
    if p is None:
        return 0.0
    t = p.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


async def one_run(engine: str, n: int, tmp: Path) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    db = f"gati_bwe_{tag}"
    await create_database(db)
    env = base_env({"GATI_KAFKA_BOOTSTRAP": KAFKA, "GATI_TOPIC_PREFIX": f"bwe{tag}",
                    "GATI_DATABASE_URL": pg_url(db, driver="asyncpg"),
                    "GATI_GATEWAY_ID": f"gw{tag}"})
    settings = from_env(env)
    offsets = KafkaOffsets()
    proc: Proc | None = None
    try:
        await backlog(settings, n)
        proc = Proc(engine, [GATI, "worker", APP], {**env, "GATI_WORKER_ENGINE": engine},
                    tmp / f"{engine}-{tag}.log").start()
        worker, broker = psutil.Process(proc.pid), _broker()
        await offsets.start()
        reply = settings.reply_topic(settings.effective_gateway_id())
        first: tuple[int, float, float, float] | None = None
        deadline = time.monotonic() + 300
        while True:
            done = (await offsets.totals([reply]))[reply]
            if first is None and done > 0:
                first = (done, time.perf_counter(), _cpu(worker), _cpu(broker))
            if done >= n or time.monotonic() > deadline or not proc.alive():
                break
            await asyncio.sleep(0.02)  # polling the topic's end offset, not a race
        end = (done, time.perf_counter(), _cpu(worker), _cpu(broker))
        if first is None or done < n:
            raise RuntimeError(f"{engine}: {done} of {n} replies\n{proc.tail()}")
        served = end[0] - first[0]
        return {"engine": engine, "requests": n, "measured": served,
                "req_per_s": round(served / (end[1] - first[1]), 1),
                "worker_cpu_ms_per_req": round((end[2] - first[2]) * 1000 / served, 3),
                "broker_cpu_ms_per_req": round((end[3] - first[3]) * 1000 / served, 3)}
    finally:
        if proc is not None:
            proc.stop()
        await offsets.stop()
        await delete_topics(f"bwe{tag}")
        await drop_database(db)


async def main(n: int, rounds: int) -> dict[str, Any]:
    tmp = ROOT / "bench" / "results" / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    runs = []
    for r in range(rounds):
        for engine in (("faust", "aiokafka") if r % 2 == 0 else ("aiokafka", "faust")):
            run = await one_run(engine, n, tmp)
            print(json.dumps(run), file=sys.stderr)
            runs.append(run)
    summary: dict[str, Any] = {}
    for engine in ("faust", "aiokafka"):
        mine = [x for x in runs if x["engine"] == engine]
        summary[engine] = {k: statistics.median(x[k] for x in mine)
                           for k in ("req_per_s", "worker_cpu_ms_per_req",
                                     "broker_cpu_ms_per_req")}
    f, a = summary["faust"], summary["aiokafka"]
    summary["faust_over_aiokafka"] = {
        "throughput": round(f["req_per_s"] / a["req_per_s"], 3),
        "worker_cpu_per_req": round(f["worker_cpu_ms_per_req"] / a["worker_cpu_ms_per_req"], 3)}
    return {"requests": n, "rounds": rounds, "runs": runs, "summary": summary}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", help="write the result JSON here too")
    args = ap.parse_args()
    result = asyncio.run(main(args.requests, args.rounds))
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
