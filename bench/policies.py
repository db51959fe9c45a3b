"""What auth, a rate limit and an idempotency key cost: the same route with all three on
and with all off, same system, same run (issue 18's target: on / off >= 0.90).

    .venv/bin/python bench/policies.py            # ~2 min on 2 cores

One system on the real Kafka and Postgres (gateway, worker and recorder as processes,
``bench/policies_app.py``). ``POST /users-on`` needs a JWT (HS256, verified by the
gateway), counts every request against a rate limit in the shared table (one upsert)
and claims a unique Idempotency-Key per request (one insert); ``POST /users-off`` has
none of them. Both insert a user (the example's database module). wrk at
``--concurrency``; ``--repeats`` rounds, the order of on and off alternating; each
round ``--warmup`` then ``--requests`` per mode. Medians, and the ratio on / off. CPU
per answered request over each measured phase (psutil): every process of the system
(gateway, worker, recorder, Kafka, Postgres), the gateway alone, and Postgres alone.
Writes ``bench/results/<stamp>-policies.json`` and ``.md`` and prints the markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jwt

from bench.harness.load import closed_loop
from bench.harness.procs import use_gati_ref
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
from bench.harness.services import start_kafka

# By absolute path: with --gati-ref the processes run from a snapshot without bench/.
APP = f"{Path(__file__).resolve().with_name('policies_app.py')}:app"
SECRET = "bench-secret-" + os.urandom(16).hex()  # 45 bytes: over HS256's 32


def _mode_env(mode: str) -> None:
    """wrk's script reads these: a bearer token and a unique key per request, or none."""
    os.environ.pop("BENCH_AUTH", None)
    os.environ.pop("BENCH_IDEMPOTENCY", None)
    if mode in ("on", "auth"):
        token = jwt.encode({"sub": "bench", "aud": "bench", "exp": int(time.time()) + 3600},
                           SECRET, algorithm="HS256")
        os.environ["BENCH_AUTH"] = f"Bearer {token}"
    if mode == "on":
        os.environ["BENCH_IDEMPOTENCY"] = "1"


CPU_GROUPS = {"all": None, "gateway": ("gateway",), "postgres": ("postgres",)}


def _cpu_ms(s: Sample, answered: int, names: tuple[str, ...] | None) -> float:
    """CPU milliseconds per answered request of the ``names`` processes (None: all)."""
    used = sum(v for k, v in s.cpu_pct.items() if names is None or k in names)
    return round(1000 * (used / 100) * s.wall_s / answered, 3) if answered else 0.0


async def main(args: argparse.Namespace) -> None:
    ref = use_gati_ref(args.gati_ref, TMP) if args.gati_ref else None
    tmp = run_dir("policies")
    system = await start_kafka(APP, tmp, extra_env={"BENCH_JWT_SECRET": SECRET})
    modes = ("on", "auth", "off") if args.auth_only else ("on", "off")
    rps: dict[str, list[float]] = {m: [] for m in modes}
    p99: dict[str, list[float]] = {m: [] for m in modes}
    cpu: dict[str, dict[str, list[float]]] = {g: {m: [] for m in modes} for g in CPU_GROUPS}
    try:
        for rnd in range(args.repeats):
            for mode in (modes if rnd % 2 == 0 else modes[::-1]):
                _mode_env(mode)
                url = f"{system.base_url}/users-{mode}"
                for phase, n in (("warmup", args.warmup), ("measured", args.requests)):
                    pids = {k: [v] for k, v in system.group.pids().items()}
                    with sample(pids) as used:
                        result = await asyncio.to_thread(
                            closed_loop, url, kind="users", tag=f"{mode}-{rnd}-{phase}",
                            connections=args.concurrency, stop_after=n)
                    if result.error_count:
                        print(f"  {mode} {phase}: {result.error_count} errors "
                              f"{result.statuses} {result.errors}", flush=True)
                if result.ok:
                    rps[mode].append(result.rps)
                    p99[mode].append(result.latency_ms.get("p99", 0.0))
                    for group, names in CPU_GROUPS.items():
                        cpu[group][mode].append(_cpu_ms(used, result.ok, names))
                print(f"round {rnd} {mode}: {result.rps:,.0f} req/s, "
                      f"p99 {result.latency_ms.get('p99', 0):.1f} ms, "
                      f"CPU {_cpu_ms(used, result.ok, None):.2f} ms/req", flush=True)
    finally:
        _mode_env("off")
        await system.close()
    summary: dict[str, Any] = {mode: {
        "rps": median_spread(rps[mode]), "p99_ms": median_spread(p99[mode]),
        **{f"cpu_ms_{g}": median_spread(cpu[g][mode]) for g in CPU_GROUPS}} for mode in rps}
    on, off = summary["on"]["rps"]["median"], summary["off"]["rps"]["median"]
    summary["ratio_on_off"] = round(on / off, 3) if on and off else None
    # The ratio within each round (same minute, same neighbours): its spread is the noise.
    per_round = [round(a / b, 3) for a, b in zip(rps["on"], rps["off"], strict=False) if b]
    out = RESULTS / f"{stamp()}-policies"
    write_json(out.with_suffix(".json"), {"machine": machine(), "args": vars(args),
                                          "gati_ref": ref,
                                          "summary": summary, "rps": rps, "p99_ms": p99,
                                          "cpu_ms_per_request": cpu,
                                          "ratio_per_round": per_round})
    md = "\n".join([
        "# Policies on / off (issue 18)", "",
        f"wrk, {args.concurrency} connections, {args.requests} requests per mode and round, "
        f"{args.repeats} rounds, medians; gati at {ref or 'the working tree'}. CPU ms "
        "per answered request over the measured phase: all processes (gateway, worker, "
        "recorder, Kafka, Postgres), the gateway, Postgres.", "",
        table(["mode", "req/s", "p99 ms", "CPU ms/req", "gateway", "postgres"], [
            [m, summary[m]["rps"]["median"], summary[m]["p99_ms"]["median"],
             *(summary[m][f"cpu_ms_{g}"]["median"] for g in CPU_GROUPS)]
            for m in modes]),
        "", f"Throughput on / off: **{summary['ratio_on_off']}** (target >= 0.90); "
        f"per round {per_round}.", ""])
    out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--gati-ref", default=None,
                        help="run gati (and examples/) as at this git ref, e.g. HEAD")
    parser.add_argument("--auth-only", action="store_true",
                        help="also measure POST /users-auth: the JWT alone")
    asyncio.run(main(parser.parse_args()))
