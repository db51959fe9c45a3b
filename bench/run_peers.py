"""Gati against its peers, side by side in one run (issue 7).

    .venv/bin/python bench/run_peers.py            # 3 repeats, about 15 minutes
    .venv/bin/python bench/run_peers.py --quick    # 1 repeat, short phases: a smoke run

Each system serves ``bench/peers/handler.py`` (a ~1 KB order in, ~1 KB priced order out):
direct ASGI, raw aiokafka request-reply, Gati (lifecycle on and off), DBOS, Restate and
Temporal. Per repeat, every system is started fresh, one at a time, and measured:

* closed loop: wrk at ``--concurrency`` for ``--closed-seconds`` after a warm-up: req/s;
* open loop: the asyncio client at 25 / 50 / 75 % of Gati's saturation (Gati's
  closed-loop req/s in the first repeat, fixed for the run): p50 / p95 / p99, errors.
  A rate above ``--overload-factor`` x the system's own saturation is not run (it can
  only queue up to the timeout) and is reported as overloaded.

Systems run in the same order in every repeat, Gati first. Results: the median of the
repeats with their spread, ratios Gati / peer, and the targets of issue 7, in
``bench/results/<date>.json``, ``<date>.md`` and ``<date>-latency.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import profile
from bench.harness.load import closed_loop, have_wrk, open_loop
from bench.harness.peers import NEEDS_PEERS_ENV, STARTERS, Running, ensure_peers_env
from bench.harness.procs import use_gati_ref
from bench.harness.recording import measure_drain, wait_recorded
from bench.harness.report import render_markdown, render_plot, summarise
from bench.harness.results import RESULTS, TMP, machine, run_dir, stamp, write_json
from bench.harness.sampler import sample
from bench.harness.services import KafkaOffsets, Record

ALL_SYSTEMS = list(STARTERS)
FRACTIONS = (0.25, 0.5, 0.75)


async def _closed(url: str, tag: str, args: argparse.Namespace, seconds: float) -> Any:
    return await asyncio.to_thread(
        closed_loop,
        url,
        connections=args.concurrency,
        kind="work",
        tag=tag,
        duration_s=seconds,
    )


async def _settle_record(running: Running) -> float | None:
    """Seconds until Gati's record caught up with the traffic so far (None: not Gati)."""
    if running.gati is None:
        return None
    record, offsets = Record(running.gati.database_url), KafkaOffsets()
    await offsets.start()
    try:
        lag, _ = await wait_recorded(
            running.gati, record, offsets, lifecycle=running.name == "gati"
        )
        return lag
    finally:
        await record.close()
        await offsets.stop()


async def measure(
    name: str, repeat: int, args: argparse.Namespace, rates: list[float] | None
) -> dict[str, Any]:
    tmp = run_dir(f"peers-{name}-r{repeat}")
    t0 = time.monotonic()
    running = await STARTERS[name](tmp)
    out: dict[str, Any] = {
        "system": name,
        "repeat": repeat,
        "start_s": round(time.monotonic() - t0, 1),
        "logs": str(tmp),
    }
    tag = f"{name[:3]}{repeat}{int(time.time()) % 100000}"
    try:
        pids = {n: [pid] for n, pid in running.group.pids().items()}
        warm = await _closed(running.url, f"{tag}w", args, args.warmup_seconds)
        if warm.ok < 0.5 * warm.requests or not warm.ok:
            raise RuntimeError(
                f"warm-up mostly failed ({warm.statuses}, {warm.errors}):\n" + running.group.logs()
            )
        await _settle_record(running)
        with sample(pids) as procs:
            closed = await _closed(running.url, f"{tag}c", args, args.closed_seconds)
        out["closed"] = closed.as_dict()
        out["closed_processes"] = procs.as_dict()
        out["warmup_ok"] = warm.ok
        out["recorder_lag_s"] = await _settle_record(running)
        print(
            f"  {name} r{repeat}: {closed.rps:,.0f} req/s, p99 "
            f"{closed.latency_ms['p99']:.1f} ms, errors {closed.error_count}"
            + (
                f", recorder lag {out['recorder_lag_s']:.2f}s"
                if out["recorder_lag_s"] is not None
                else ""
            ),
            flush=True,
        )
        if rates is None:  # the first Gati run sets the offered rates for the whole run
            rates = [round(f * closed.rps, 1) for f in FRACTIONS]
            out["defines_rates"] = rates
        out["open"] = []
        for fraction, rate in zip(FRACTIONS, rates, strict=True):
            if rate > args.overload_factor * closed.rps:
                out["open"].append(
                    {
                        "fraction": fraction,
                        "rate": rate,
                        "skipped": f"offered {rate:.0f}/s > {args.overload_factor} x its "
                        f"saturation {closed.rps:.0f}/s",
                    }
                )
                continue
            result = await asyncio.to_thread(
                open_loop,
                running.url,
                rate=rate,
                duration_s=args.open_seconds,
                kind="work",
                tag=f"{tag}o{int(fraction * 100)}",
            )
            out["open"].append({"fraction": fraction, "rate": rate, **result.as_dict()})
            print(
                f"    open {rate:,.0f}/s: p50 {result.latency_ms['p50']:.1f} p99 "
                f"{result.latency_ms['p99']:.1f} ms, errors {result.error_count}",
                flush=True,
            )
            await _settle_record(running)
        if name == "gati" and repeat == 1 and args.drain_requests:
            out["drain"] = await _drain(running, tag, args)
        if name == "gati" and repeat == 1 and args.profile:
            out["profile"] = await _profile(running, tag, args, tmp / "profile")
    finally:
        await running.stop()
    return out


async def _drain(running: Running, tag: str, args: argparse.Namespace) -> dict[str, Any]:
    assert running.gati is not None
    record, offsets = Record(running.gati.database_url), KafkaOffsets()
    await offsets.start()

    async def backlog() -> dict[str, Any]:
        result = await asyncio.to_thread(
            closed_loop,
            running.url,
            connections=args.concurrency,
            kind="work",
            tag=f"{tag}d",
            stop_after=args.drain_requests,
        )
        return result.as_dict()

    try:
        drain = await measure_drain(running.gati, record, offsets, backlog)
    finally:
        await record.close()
        await offsets.stop()
    print(
        f"    drain: {drain['backlog_rows']} rows in {drain['drain_s']}s = "
        f"{drain['rows_per_s']:,.0f} rows/s",
        flush=True,
    )
    if "warning" in drain:
        print(f"    drain: warning: {drain['warning']}", flush=True)
    return drain


async def _profile(
    running: Running, tag: str, args: argparse.Namespace, tmp: Path
) -> dict[str, Any]:
    pids = {n: p for n, p in running.group.pids().items()}
    print(f"    profile: py-spy on {', '.join(pids)} for {args.profile_seconds}s", flush=True)
    load = asyncio.create_task(_closed(running.url, f"{tag}p", args, args.profile_seconds + 4))
    await asyncio.sleep(1.5)
    files = await profile.record(pids, tmp, args.profile_seconds)
    await load
    kept = profile.archive(files, RESULTS / f"{stamp()}-profile")
    return {
        n: {"file": str(kept[n].relative_to(RESULTS.parents[1])), **profile.summarise(p)}
        for n, p in files.items()
    }


async def main_async(args: argparse.Namespace) -> None:
    if not have_wrk():
        sys.exit("wrk not found: apt-get install -y wrk")
    systems = args.systems
    unavailable: dict[str, str] = {}
    if NEEDS_PEERS_ENV & set(systems):
        why = await asyncio.to_thread(ensure_peers_env, run_dir("peers-setup") / "setup.log")
        if why:
            for s in NEEDS_PEERS_ENV & set(systems):
                unavailable[s] = why
    systems = [s for s in systems if s not in unavailable]
    if "gati" in systems:
        systems = ["gati", *[s for s in systems if s != "gati"]]
    ref = use_gati_ref(args.gati_ref, TMP) if args.gati_ref else None
    meta = machine(ref)
    rates: list[float] | None = args.rates
    runs: list[dict[str, Any]] = []
    started = time.monotonic()
    for repeat in range(1, args.repeats + 1):
        print(f"== repeat {repeat}/{args.repeats}", flush=True)
        for name in systems:
            if name in unavailable:
                continue
            try:
                result = await measure(name, repeat, args, rates)
            except Exception as exc:
                print(f"  {name} r{repeat} failed: {exc!r}"[:2000], flush=True)
                unavailable[name] = f"failed in repeat {repeat}: {exc!r}"[:2000]
                continue
            rates = rates or result.get("defines_rates")
            runs.append(result)
    summary = summarise(runs, rates or [], FRACTIONS)
    data = {
        "what": "peers side by side: POST ~1 KB order, ~1 KB answer (bench/peers/handler.py)",
        "machine": meta,
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "offered_rates": rates,
        "unavailable": unavailable,
        "elapsed_s": round(time.monotonic() - started, 1),
        "summary": summary,
        "runs": runs,
    }
    base = Path(args.out) if args.out else RESULTS / stamp()
    write_json(base.with_suffix(".json"), data)
    markdown = render_markdown(data)
    base.with_suffix(".md").write_text(markdown + "\n")
    plot = render_plot(data, base.parent / f"{base.name}-latency.png")
    print()
    print(markdown)
    print(f"\nwrote {base.with_suffix('.json')}, {base.with_suffix('.md')}, {plot}")


def render_only(path: Path) -> None:
    data = json.loads(path.read_text())
    data["summary"] = summarise(data["runs"], data["offered_rates"] or [], FRACTIONS)
    write_json(path, data)
    markdown = render_markdown(data)
    path.with_suffix(".md").write_text(markdown + "\n")
    render_plot(data, path.parent / f"{path.stem}-latency.png")
    print(markdown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", choices=ALL_SYSTEMS, default=ALL_SYSTEMS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--warmup-seconds", type=float, default=3)
    parser.add_argument("--closed-seconds", type=float, default=8)
    parser.add_argument("--open-seconds", type=float, default=5)
    parser.add_argument("--overload-factor", type=float, default=1.25)
    parser.add_argument("--rates", type=float, nargs=3, help="fixed open-loop rates (req/s)")
    parser.add_argument(
        "--drain-requests",
        type=int,
        default=20_000,
        help="backlog for the recorder drain (repeat 1, Gati); 0: skip. At least ten "
        "recorder batches (GATI_RECORDER_BATCH_SIZE messages each) for a meaningful rate",
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy Gati's processes under load (repeat 1)"
    )
    parser.add_argument("--profile-seconds", type=int, default=15)
    parser.add_argument(
        "--gati-ref",
        help="benchmark this git revision of gati/ and examples/ (a snapshot) instead of "
        "the working tree, e.g. HEAD while others edit",
    )
    parser.add_argument(
        "--render", metavar="JSON", help="only redo the markdown and plot of a result file"
    )
    parser.add_argument("--quick", action="store_true", help="1 repeat, short phases")
    parser.add_argument("--out", help="result path without suffix (default bench/results/<date>)")
    args = parser.parse_args()
    if args.render:
        render_only(Path(args.render))
        return
    if args.quick:
        args.repeats = 1
        args.warmup_seconds, args.closed_seconds, args.open_seconds = 2, 5, 4
        args.drain_requests = min(args.drain_requests, 2000)
        args.profile_seconds = min(args.profile_seconds, 8)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
