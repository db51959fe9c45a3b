"""What the effect journal costs: the request path with ``GATI_JOURNAL=on`` and ``off``.

    .venv/bin/python bench/journal.py --gati-ref HEAD        # ~3.5 min on 2 cores

Issue 11 asks for "throughput and p99 with the effect journal on and off, same run";
issue 17's target is journal on / off >= 0.90. With the journal on, each journaled
module call writes the request's lifecycle steps so far to the lifecycle topic (one
acknowledged write: ``acks=all``, idempotent) before the handler sees the result.

Two systems run side by side on the real Kafka and Postgres, each with its own database
and topics (``gati migrate``, then gateway, worker and recorder as processes, as in
``bench/request_path.py``): one with the journal on, one with it off. Every request is
``POST /users`` of ``examples.users.app`` with a unique email: two journaled module calls
per request, ``db.insert_user`` (a row insert) and ``mail.send_welcome`` (which returns at
once: no SMTP server is configured), so two journal writes per request. ``--repeats``
rounds, the order of the two alternating (on, off, then off, on, ...) so that drift in
the machine's other load falls on both; each round, on each system:

1. warm-up: ``--warmup`` requests at ``--concurrency``;
2. latency: ``--sequential`` requests one at a time (p50 / p99);
3. throughput: ``--requests`` requests at ``--concurrency``, with the CPU of gateway,
   worker, recorder, the Kafka broker and Postgres sampled; CPU ms per answered request is
   the sum of those processes' CPU over the phase divided by the responses.

After every phase the bench waits until the record holds every request (so one phase's
recording does not run into the next). It counts the topics' end offsets around each
throughput phase: lifecycle messages per request, which is the proof that the journal
writes are real (3 with the journal on: two journal writes and the final batch; 1 off),
and lifecycle rows per request in Postgres, which must be the same on and off (the
journal adds writes to the log, not rows to the record).

Medians over the repeats, and the ratios on / off. Writes
``bench/results/<stamp>-journal.json`` and ``.md`` and prints the markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg

from bench.harness.load import LoadResult, closed_loop, have_wrk
from bench.harness.procs import use_gati_ref, wait_http
from bench.harness.results import (
    RESULTS,
    TMP,
    machine,
    median_spread,
    run_dir,
    stamp,
    table,
    write_json,
)
from bench.harness.sampler import Sample, sample
from bench.harness.services import (
    PG,
    GatiSystem,
    KafkaOffsets,
    Record,
    RecordCounts,
    start_kafka,
)

APP = "examples.users.app:app"
# Other sessions' fault suites kill and pause the shared broker and Postgres: a round they
# disturb (errors, a broker restart, the record unreachable) is discarded and run again.
ATTEMPTS = 4
MODES = ("on", "off")
GATI_GROUPS = ("gateway", "worker", "recorder")
INFRA = ("kafka", "postgres")


@dataclass
class Running:
    mode: str
    system: GatiSystem
    record: Record
    offsets: KafkaOffsets
    start_s: float

    @property
    def pids(self) -> dict[str, list[int]]:
        return {name: [pid] for name, pid in self.system.group.pids().items()}

    async def totals(self) -> dict[str, int]:
        t = await self.offsets.totals(list(self.system.topics.values()))
        return {kind: t[topic] for kind, topic in self.system.topics.items()}

    async def close(self) -> None:
        """Stop the system whatever state the services are in."""
        try:
            for step in (self.record.close, self.offsets.stop):
                with contextlib.suppress(Exception):  # a broken client: nothing to close
                    await step()
        finally:
            await self.system.close()


async def start(mode: str, tag: str) -> Running:
    tmp = run_dir(f"journal-{mode}-{tag}")
    print(f"== journal {mode}: starting (logs in {tmp})", flush=True)
    t0 = time.monotonic()
    system = await start_kafka(APP, tmp, extra_env={"GATI_JOURNAL": mode})
    offsets = KafkaOffsets()
    await offsets.start()
    running = Running(mode, system, Record(system.database_url), offsets,
                      round(time.monotonic() - t0, 1))
    print(f"   ready in {running.start_s}s", flush=True)
    return running


async def recorded(r: Running, within: float = 120.0) -> tuple[float, RecordCounts]:
    """Seconds until the record holds every request the requests topic holds, each with
    its envelope and outcome, and the topics have stopped growing.

    (``recording.wait_recorded`` with offsets compares lifecycle messages with rows or
    complete requests, which a journal's extra messages never match; the requests topic
    is one message per request, journal or not.)
    """
    t0 = time.monotonic()
    last: dict[str, int] | None = None
    while True:
        totals = await r.totals()
        counts = await r.record.counts()
        if (totals == last and counts.requests == totals["requests"]
                and counts.complete == counts.requests):
            return time.monotonic() - t0, counts
        last = totals
        if time.monotonic() - t0 > within:
            raise RuntimeError(f"journal {r.mode}: record incomplete after {within}s: "
                               f"{counts}, topics {totals}")
        r.system.group.check_alive()
        await asyncio.sleep(0.05)


async def load(r: Running, tag: str, connections: int, n: int) -> LoadResult:
    result = await asyncio.to_thread(
        closed_loop, f"{r.system.base_url}/users", kind="users", tag=tag,
        connections=connections, stop_after=n,
    )
    if result.error_count:
        print(f"   warning: {tag}: {result.error_count} errors/non-2xx "
              f"{result.statuses} {result.errors}", flush=True)
    return result


async def postgres_up(within: float = 300.0) -> None:
    """Wait until Postgres accepts connections (``start_kafka`` waits for Kafka itself)."""
    deadline = time.monotonic() + within
    while True:
        try:
            conn = await asyncpg.connect(PG, timeout=5)
            await conn.close()
            return
        except (TimeoutError, OSError, asyncpg.PostgresError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(2.0)


async def services_up(r: Running, within: float = 300.0) -> None:
    """Wait until Postgres answers and the system answers a request end to end again
    (the readiness probe: 404 from the worker), then reconnect the bench's clients.
    Raises RuntimeError at once if one of the system's processes has exited."""
    await r.record.close()
    await postgres_up(within)
    deadline = time.monotonic() + within
    while True:
        try:
            await asyncio.to_thread(wait_http, f"{r.system.base_url}/_ready_probe",
                                    r.system.group, status=404, within=60,
                                    request_timeout=30)
            break
        except RuntimeError:
            r.system.group.check_alive()
            if time.monotonic() > deadline:
                raise
    await r.offsets.stop()
    r.offsets = KafkaOffsets()
    await r.offsets.start()


async def measured_round(
    systems: dict[str, Running], mode: str, rnd: int, tag: str, args: argparse.Namespace,
    discarded: list[dict[str, Any]],
) -> dict[str, Any]:
    """``round_on``, again until no fault from outside the bench disturbed it."""
    for attempt in range(1, ATTEMPTS + 1):
        r = systems[mode]
        reason = ""
        try:
            out = await round_on(r, rnd, args)
            if out["errors"]:
                reason = f"{out['errors']} errors: {out['throughput']['statuses']}"
            elif out["kafka_restarted"]:
                reason = "the broker restarted"
            else:
                out["attempt"] = attempt
                return out
        except Exception as exc:  # a service went away under us: retried below
            reason = f"{type(exc).__name__}: {str(exc)[:300]}"
        print(f"   round {rnd + 1} journal {mode} disturbed ({reason}); again "
              f"(attempt {attempt + 1} of {ATTEMPTS})", flush=True)
        discarded.append({"round": rnd, "mode": mode, "attempt": attempt, "reason": reason})
        if attempt == ATTEMPTS:
            break
        try:
            r.system.group.check_alive()
            await services_up(r)
        except Exception as exc:
            print(f"   journal {mode}: restarting its system ({exc!r:.200})", flush=True)
            await r.close()
            await postgres_up()
            systems[mode] = await start(mode, f"{tag}r{rnd}a{attempt}")
    raise RuntimeError(f"round {rnd + 1} journal {mode}: disturbed {ATTEMPTS} times")


def cpu_ms_per_request(s: Sample, answered: int, names: tuple[str, ...] | None = None) -> float:
    used = sum(v for k, v in s.cpu_pct.items() if names is None or k in names)
    return 1000 * (used / 100) * s.wall_s / answered if answered else float("nan")


async def round_on(r: Running, rnd: int, args: argparse.Namespace) -> dict[str, Any]:
    tag = f"j{r.mode}{rnd}x{int(time.time())}"
    print(f"-- round {rnd + 1}, journal {r.mode}", flush=True)
    warm = await load(r, f"{tag}w", args.concurrency, args.warmup)
    if warm.ok < 0.5 * warm.requests:
        raise RuntimeError(f"warm-up mostly failed: {warm.statuses}\n{r.system.group.logs()}")
    await recorded(r)

    with sample(r.pids) as seq_sample:
        seq = await load(r, f"{tag}s", 1, args.sequential)
    await recorded(r)

    before_topics, before_rows = await r.totals(), await r.record.counts()
    with sample(r.pids) as tput_sample:
        tput = await load(r, f"{tag}t", args.concurrency, args.requests)
    lag, after_rows = await recorded(r)
    after_topics = await r.totals()
    d_req = after_topics["requests"] - before_topics["requests"]
    d_lc = after_topics["lifecycle"] - before_topics["lifecycle"]
    d_rows = after_rows.lifecycle - before_rows.lifecycle
    out = {
        "mode": r.mode,
        "round": rnd,
        "seq_p50_ms": seq.latency_ms["p50"],
        "seq_p99_ms": seq.latency_ms["p99"],
        "rps": tput.rps,
        "p50_ms": tput.latency_ms["p50"],
        "p99_ms": tput.latency_ms["p99"],
        "errors": warm.error_count + seq.error_count + tput.error_count,
        "cpu_ms_per_request": cpu_ms_per_request(tput_sample, tput.requests),
        "gati_cpu_ms_per_request": cpu_ms_per_request(tput_sample, tput.requests, GATI_GROUPS),
        "infra_cpu_ms_per_request": cpu_ms_per_request(tput_sample, tput.requests, INFRA),
        "other_cpu_pct": tput_sample.other_cpu_pct,
        "client_cpu_pct": tput.client_cpu_pct,
        "recorder_lag_s": round(lag, 3),
        "topic_requests": d_req,
        "topic_lifecycle_messages": d_lc,
        "lifecycle_messages_per_request": d_lc / d_req if d_req else None,
        "lifecycle_rows_per_request": d_rows / d_req if d_req else None,
        "kafka_restarted": seq_sample.kafka_restarted or tput_sample.kafka_restarted,
        "warmup": warm.as_dict(),
        "sequential": seq.as_dict(),
        "sequential_processes": seq_sample.as_dict(),
        "throughput": tput.as_dict(),
        "throughput_processes": tput_sample.as_dict(),
    }
    print(f"   seq p50 {out['seq_p50_ms']:.1f} p99 {out['seq_p99_ms']:.1f} ms; "
          f"c={args.concurrency}: {out['rps']:,.0f} req/s p99 {out['p99_ms']:.1f} ms; "
          f"{out['cpu_ms_per_request']:.2f} CPU ms/req; other CPU "
          f"{out['other_cpu_pct']:.0f}%; lifecycle msgs/req "
          f"{out['lifecycle_messages_per_request']:.2f}, rows/req "
          f"{out['lifecycle_rows_per_request']:.2f}", flush=True)
    return out


FIGURES = [
    # key, header, lower is better
    ("rps", "req/s (c={c})", False),
    ("p50_ms", "p50 ms (c={c})", True),
    ("p99_ms", "p99 ms (c={c})", True),
    ("seq_p50_ms", "seq p50 ms", True),
    ("seq_p99_ms", "seq p99 ms", True),
    ("cpu_ms_per_request", "CPU ms/req (all)", True),
    ("gati_cpu_ms_per_request", "CPU ms/req (Gati)", True),
    ("infra_cpu_ms_per_request", "CPU ms/req (Kafka+PG)", True),
    ("lifecycle_messages_per_request", "lifecycle msgs/req", True),
    ("lifecycle_rows_per_request", "lifecycle rows/req", True),
    ("other_cpu_pct", "other CPU %", True),
]


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    by_mode = {m: [r for r in rounds if r["mode"] == m] for m in MODES}
    medians = {
        m: {key: median_spread([r[key] for r in rs]) for key, _, _ in FIGURES}
        for m, rs in by_mode.items()
    }
    for m, rs in by_mode.items():
        medians[m]["errors"] = sum(r["errors"] for r in rs)
    ratios = {}
    for key, _, _ in FIGURES:
        on, off = medians["on"][key]["median"], medians["off"][key]["median"]
        ratios[key] = round(on / off, 3) if on is not None and off else None
    # Per round, on / off of the same round: how much of the ratio is noise.
    pair = {
        key: [round(a[key] / b[key], 3) if b[key] else None
              for a, b in zip(by_mode["on"], by_mode["off"], strict=True)]
        for key in ("rps", "p99_ms", "seq_p99_ms", "cpu_ms_per_request")
    }
    on_msgs = medians["on"]["lifecycle_messages_per_request"]["median"]
    off_msgs = medians["off"]["lifecycle_messages_per_request"]["median"]
    return {
        "medians": medians,
        "ratios_on_over_off": ratios,
        "ratios_per_round": pair,
        "target_issue_17": {
            "figure": "effect journal on / off, throughput",
            "goal": 0.90,
            "measured": ratios["rps"],
            "met": ratios["rps"] is not None and ratios["rps"] >= 0.90,
        },
        "journal_writes_real": bool(on_msgs and off_msgs and on_msgs > off_msgs + 0.5),
    }


def render(data: dict[str, Any]) -> str:
    s, st, m = data["summary"], data["settings"], data["machine"]
    c = st["concurrency"]
    heads = ["journal", *(h.format(c=c) for _, h, _ in FIGURES), "errors"]

    def fmt(key: str, v: Any) -> str:
        if v is None:
            return ""
        if key == "rps":
            return f"{v:,.0f}"
        if key.startswith("lifecycle"):
            return f"{v:.2f}"
        if key == "other_cpu_pct":
            return f"{v:.0f}"
        return f"{v:.2f}" if key.startswith(("cpu", "gati", "infra")) else f"{v:.1f}"

    rows = []
    for mode in MODES:
        med = s["medians"][mode]
        rows.append([mode, *(fmt(k, med[k]["median"]) for k, _, _ in FIGURES),
                     med["errors"]])
    rows.append(["**on / off**", *(f"**{s['ratios_on_over_off'][k]:.3f}**"
                                   if s["ratios_on_over_off"][k] is not None else ""
                                   for k, _, _ in FIGURES), ""])
    spread = []
    for mode in MODES:
        med = s["medians"][mode]
        spread.append([mode, *(
            f"{fmt(k, med[k]['min'])}-{fmt(k, med[k]['max'])} ({med[k]['spread_pct']}%)"
            for k in ("rps", "p99_ms", "seq_p99_ms", "cpu_ms_per_request"))])
    per_round = [[k, *(f"{x:.3f}" if x is not None else "" for x in v)]
                 for k, v in s["ratios_per_round"].items()]
    t17 = s["target_issue_17"]

    def per_req(mode: str, key: str) -> str:
        return fmt("lifecycle", s["medians"][mode][key]["median"])

    out = [
        f"Run {m['when']} on {m['cpus']} cores, gati at {m['git_commit']}; "
        f"`POST /users` of `{APP}` (two journaled calls per request: `db.insert_user`, "
        f"`mail.send_welcome` without SMTP) on "
        f"Kafka + Postgres; {st['repeats']} rounds alternating on/off, medians; per round "
        f"{st['warmup']} warm-up, {st['sequential']} sequential, {st['requests']} at "
        f"c={c} (wrk). CPU per answered request: gateway + worker + recorder + Kafka + "
        f"Postgres over the c={c} phase. Load average at start "
        f"{m['load_average_at_start']}.",
        "",
        table(heads, rows),
        "",
        f"Issue 17 target, journal on / off throughput >= 0.90: measured "
        f"{t17['measured']} ({'met' if t17['met'] else 'NOT met'}).",
        "",
        f"Journal writes are real: lifecycle-topic messages per request over the c={c} "
        f"phases, on {per_req('on', 'lifecycle_messages_per_request')} vs off "
        f"{per_req('off', 'lifecycle_messages_per_request')} "
        f"({'verified' if s['journal_writes_real'] else 'NOT verified'}); lifecycle rows "
        f"per request in Postgres, on {per_req('on', 'lifecycle_rows_per_request')} vs off "
        f"{per_req('off', 'lifecycle_rows_per_request')}.",
        "",
        "Spread over the rounds, min-max (spread):",
        "",
        table(["journal", f"req/s (c={c})", f"p99 ms (c={c})", "seq p99 ms",
               "CPU ms/req"], spread),
        "",
        "On / off within each round (the noise in the ratio):",
        "",
        table(["figure", *(f"round {i + 1}" for i in range(st["repeats"]))], per_round),
    ]
    return "\n".join(out)


async def main_async(args: argparse.Namespace) -> None:
    if not have_wrk():
        sys.exit("wrk not found: apt-get install -y wrk")
    ref = use_gati_ref(args.gati_ref, TMP) if args.gati_ref else None
    meta = machine(ref)
    t0 = time.monotonic()
    tag = time.strftime("%H%M%S")
    systems: dict[str, Running] = {}
    rounds: list[dict[str, Any]] = []
    discarded: list[dict[str, Any]] = []
    try:
        for mode in MODES:  # one after the other: two starts at once compete for 2 cores
            systems[mode] = await start(mode, tag)
        for rnd in range(args.repeats):
            order = MODES if rnd % 2 == 0 else MODES[::-1]
            for mode in order:
                rounds.append(await measured_round(systems, mode, rnd, tag, args, discarded))
    finally:
        for r in systems.values():
            await r.close()
    rounds.sort(key=lambda r: (r["round"], r["mode"]))
    data: dict[str, Any] = {
        "what": "effect journal on / off: POST /users (examples.users.app), unique email per "
                "request, on Kafka + Postgres, alternating rounds",
        "machine": meta,
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "start_s": {m: r.start_s for m, r in systems.items()},
        "wall_s": round(time.monotonic() - t0, 1),
        "summary": summarise(rounds),
        "discarded_rounds": discarded,
        "rounds": rounds,
    }
    out = Path(args.out) if args.out else RESULTS / f"{stamp()}-journal.json"
    write_json(out, data)
    md = render(data)
    out.with_suffix(".md").write_text(md + "\n")
    print()
    print(md)
    print(f"\nwrote {out} and {out.with_suffix('.md')} ({data['wall_s']}s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="rounds of on + off")
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--sequential", type=int, default=200)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument(
        "--gati-ref",
        help="benchmark this git revision of gati/ and examples/ (a snapshot) instead of "
        "the working tree, e.g. HEAD while others edit",
    )
    parser.add_argument("--quick", action="store_true", help="1 round, small counts")
    parser.add_argument("--out", help="result file (default bench/results/<stamp>-journal.json)")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.warmup, args.sequential, args.requests = 1, 100, 50, 500
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
