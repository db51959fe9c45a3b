"""Foundation figures for Gati's request path, on the embedded backend and on Kafka.

    .venv/bin/python bench/request_path.py --backend both

Starts the system itself (``gati dev`` on a temporary SQLite file; or ``gati migrate``
then gateway, worker and recorder as processes on a fresh Postgres database and unique
topics), waits until the worker answers, then drives it with wrk in its own process:

1. latency: ``--sequential`` requests one at a time (p50 / p99);
2. throughput: ``--requests`` requests at ``--concurrency``, after a warm-up;
3. recorder lag: seconds from the end of (2) until the record holds every request;
4. recorder drain (Kafka only): the recorder is stopped, ``--drain-requests`` requests
   build a backlog, and a new recorder process drains it (rows/s).

Every request is ``POST /users`` of ``examples.users.app`` with a unique email (a row
insert in the app's database per request). Gati's processes are sampled for CPU and RSS
during (1) and (2); ``--profile`` adds a py-spy run of the Kafka processes afterwards.
Writes ``bench/results/<date>-request-path.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import profile
from bench.harness.load import LoadResult, closed_loop, have_wrk
from bench.harness.procs import use_gati_ref
from bench.harness.recording import measure_drain, wait_recorded
from bench.harness.results import RESULTS, TMP, machine, run_dir, stamp, table, write_json
from bench.harness.sampler import sample
from bench.harness.services import (
    GatiSystem,
    KafkaOffsets,
    Record,
    start_embedded,
    start_kafka,
)

APP = "examples.users.app:app"


async def _load(system: GatiSystem, tag: str, **kw: Any) -> LoadResult:
    return await asyncio.to_thread(
        closed_loop, f"{system.base_url}/users", kind="users", tag=tag, **kw
    )


def _check(result: LoadResult, what: str) -> None:
    bad = result.error_count
    if bad:
        print(f"  warning: {what}: {bad} errors/non-2xx {result.statuses} {result.errors}")


async def bench_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    tmp = run_dir(f"request-path-{backend}")
    print(f"== {backend}: starting (logs in {tmp})", flush=True)
    t0 = time.monotonic()
    if backend == "embedded":
        system = await asyncio.to_thread(start_embedded, APP, tmp)
    else:
        system = await start_kafka(APP, tmp)
    out: dict[str, Any] = {"backend": backend, "start_s": round(time.monotonic() - t0, 1)}
    record = Record(system.database_url)
    offsets = KafkaOffsets() if backend == "kafka" else None
    tag = f"rp{int(time.time())}"
    try:
        if offsets is not None:
            await offsets.start()
        pids = {name: [pid] for name, pid in system.group.pids().items()}
        answered = 1  # the readiness probe

        print(f"  warm-up: {args.warmup} requests at c={args.concurrency}", flush=True)
        warm = await _load(system, f"{tag}w", connections=args.concurrency, stop_after=args.warmup)
        _check(warm, "warm-up")
        if warm.ok < 0.5 * warm.requests:
            raise RuntimeError(f"warm-up mostly failed: {warm.statuses}\n{system.group.logs()}")
        answered += warm.requests
        await wait_recorded(system, record, offsets, min_complete=answered)

        print(f"  latency: {args.sequential} sequential requests", flush=True)
        with sample(pids) as seq_sample:
            seq = await _load(system, f"{tag}s", connections=1, stop_after=args.sequential)
        _check(seq, "sequential")
        answered += seq.requests
        await wait_recorded(system, record, offsets, min_complete=answered)

        print(f"  throughput: {args.requests} requests at c={args.concurrency}", flush=True)
        with sample(pids) as tput_sample:
            tput = await _load(
                system, f"{tag}t", connections=args.concurrency, stop_after=args.requests
            )
        _check(tput, "throughput")
        answered += tput.requests
        lag, counts = await wait_recorded(system, record, offsets, min_complete=answered)
        print(f"  recorder lag {lag:.2f}s ({counts})", flush=True)
        out.update(
            sequential=seq.as_dict(),
            sequential_processes=seq_sample.as_dict(),
            throughput=tput.as_dict(),
            throughput_processes=tput_sample.as_dict(),
            warmup=warm.as_dict(),
            recorder_lag_s=round(lag, 3),
            record_after_throughput={
                "requests": counts.requests,
                "lifecycle_rows": counts.lifecycle,
            },
        )
        if offsets is not None and args.drain_requests:
            print(f"  drain: backlog of {args.drain_requests} requests", flush=True)

            async def backlog() -> dict[str, Any]:
                return (
                    await _load(
                        system,
                        f"{tag}d",
                        connections=args.concurrency,
                        stop_after=args.drain_requests,
                    )
                ).as_dict()

            drain = await measure_drain(system, record, offsets, backlog)
            print(
                f"  drain: {drain['backlog_rows']} rows in {drain['drain_s']}s "
                f"= {drain['rows_per_s']:,.0f} rows/s",
                flush=True,
            )
            if "warning" in drain:
                print(f"  drain: warning: {drain['warning']}", flush=True)
            out["drain"] = drain
        else:
            out["drain"] = None
        if args.profile and backend == "kafka":
            out["profile"] = await _profile(system, tag, tmp, args)
    finally:
        await record.close()
        if offsets is not None:
            await offsets.stop()
        await system.close()
    return out


async def _profile(
    system: GatiSystem, tag: str, tmp: Path, args: argparse.Namespace
) -> dict[str, Any]:
    print(f"  profile: py-spy for {args.profile_seconds}s under load", flush=True)
    pids = {n: p for n, p in system.group.pids().items() if n in ("gateway", "worker", "recorder")}
    load = asyncio.create_task(
        _load(system, f"{tag}p", connections=args.concurrency, duration_s=args.profile_seconds + 4)
    )
    await asyncio.sleep(1.5)
    files = await profile.record(pids, tmp / "profile", args.profile_seconds)
    await load
    kept = profile.archive(files, RESULTS / f"{stamp()}-request-path-profile")
    return {
        name: {"file": str(kept[name].relative_to(RESULTS.parents[1])), **profile.summarise(path)}
        for name, path in files.items()
    }


def report(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        seq, tput = r["sequential"], r["throughput"]
        drain = r.get("drain") or {}
        procs = tput["client_cpu_pct"]
        cpu = r["throughput_processes"]["cpu_pct_of_one_core"]
        rss = r["throughput_processes"]["rss_mb_peak"]
        gati_cpu = ", ".join(
            f"{k} {v:.0f}%" for k, v in cpu.items() if k not in ("kafka", "postgres")
        )
        infra = ", ".join(f"{k} {cpu[k]:.0f}%" for k in ("kafka", "postgres") if k in cpu)
        gati_rss = ", ".join(
            f"{k} {v:.0f}" for k, v in rss.items() if k not in ("kafka", "postgres")
        )
        rows.append(
            [
                r["backend"],
                seq["latency_ms"]["p50"],
                seq["latency_ms"]["p99"],
                tput["rps"],
                tput["latency_ms"]["p99"],
                tput["requests"] - tput["ok"],
                f"{procs:.0f}%",
                gati_cpu,
                infra,
                gati_rss,
                r["recorder_lag_s"],
                drain.get("rows_per_s"),
            ]
        )
    return table(
        [
            "backend",
            "seq p50 ms",
            "seq p99 ms",
            "req/s (c=50)",
            "p99 ms (c=50)",
            "errors",
            "wrk CPU",
            "Gati CPU (of 1 core)",
            "infra CPU",
            "Gati RSS MB",
            "recorder lag s",
            "drain rows/s",
        ],
        rows,
    )


async def main_async(args: argparse.Namespace) -> None:
    if not have_wrk():
        sys.exit("wrk not found: apt-get install -y wrk")
    backends = ["embedded", "kafka"] if args.backend == "both" else [args.backend]
    ref = use_gati_ref(args.gati_ref, TMP) if args.gati_ref else None
    meta = machine(ref)
    results = [await bench_backend(b, args) for b in backends]
    data = {
        "what": "request path: POST /users (examples.users.app), unique email per request",
        "machine": meta,
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "results": results,
    }
    out = Path(args.out) if args.out else RESULTS / f"{stamp()}-request-path.json"
    if args.backend != "both" and not args.out:
        out = RESULTS / f"{stamp()}-request-path-{args.backend}.json"
    write_json(out, data)
    print()
    print(report(results))
    print(f"\nwrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["embedded", "kafka", "both"], default="both")
    parser.add_argument("--sequential", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--drain-requests", type=int, default=10_000)
    parser.add_argument("--profile", action="store_true", help="py-spy the Kafka processes")
    parser.add_argument("--profile-seconds", type=int, default=15)
    parser.add_argument(
        "--gati-ref",
        help="benchmark this git revision of gati/ and examples/ (a snapshot) instead of "
        "the working tree, e.g. HEAD while others edit",
    )
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument("--out", help="result file (default bench/results/<date>-...json)")
    args = parser.parse_args()
    if args.quick:
        args.sequential, args.requests, args.warmup, args.drain_requests = 200, 2000, 300, 2000
        args.profile_seconds = min(args.profile_seconds, 8)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
