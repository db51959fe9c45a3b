"""What an out-of-process module call costs next to the same call in-process, same run.

    .venv/bin/python bench/module_calls.py --runs 3   # ~1 min a run on 2 cores

Issue 14's target: under 100 µs added at p50 for a small call. Measured on the call a
handler's ``gctx.modules.NAME.method(...)`` makes below the effect ledger (the ledger's
recording is the same for both kinds, so it is left out of the difference):

- ``in-process``: a Python object's ``async def sleep(seconds)`` returning at once;
- ``go``: the Go example module's ``sleep(0)`` (examples/users/modules/ids), sandboxed
  (unshare + bwrap) as the worker runs it, and ``go (no sandbox)`` for comparison;
- ``node``: the Node example module's ``avatar(name, size)`` (a short SVG string).

``--rounds`` rounds alternate the order of the kinds; each round makes ``--calls``
sequential calls per kind (latency p50 / p99), then ``--calls`` calls at
``--concurrency`` to one module process (calls/s). Medians over the rounds; ``--runs``
repeats the whole (fresh module processes each time), since one run on a shared 2-core
machine says little. ``--against REV`` alternates each run with one of a snapshot of
REV's ``gati/`` and example modules (built by its own ``scripts/modules.sh``), so a change
is measured against its base under the same load. Writes
``bench/results/<stamp>-module-calls.json`` and ``.md`` (with the commit measured and the
load average around each run) and prints the markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Where gati and the example modules come from: this tree, or a snapshot (``--against``).
SOURCE = Path(os.environ.get("GATI_BENCH_SOURCE", ROOT))
sys.path.insert(0, str(SOURCE))

from gati.modules import ProcessModule, load_spec  # noqa: E402

RESULTS = ROOT / "bench" / "results"
Call = Callable[[], Awaitable[Any]]


class InProcess:
    async def sleep(self, seconds: float) -> float:
        return seconds


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _latency(call: Call, n: int) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - t) * 1e6)
    return _pct(samples, 0.5), _pct(samples, 0.99)


async def _throughput(call: Call, n: int, concurrency: int) -> float:
    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - t)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    ids = load_spec(SOURCE / "examples/users/modules/ids/gati-module.toml")
    avatar = load_spec(SOURCE / "examples/users/modules/avatar/gati-module.toml")
    go, go_free, node = (ProcessModule(ids), ProcessModule(replace(ids, sandbox=False)),
                         ProcessModule(avatar))
    for m in (go, go_free, node):
        await m.start()
    local = InProcess()
    kinds: dict[str, Call] = {
        "in-process": lambda: local.sleep(0),
        "go": lambda: go.sleep(0),
        "go (no sandbox)": lambda: go_free.sleep(0),
        "node": lambda: node.avatar("Ada Lovelace", 8),
    }
    rounds: dict[str, list[tuple[float, float, float]]] = {k: [] for k in kinds}
    try:
        for r in range(args.rounds):
            order = list(kinds) if r % 2 == 0 else list(reversed(kinds))
            for kind in order:
                await _latency(kinds[kind], args.calls // 10)  # warm-up
                p50, p99 = await _latency(kinds[kind], args.calls)
                rate = await _throughput(kinds[kind], args.calls, args.concurrency)
                rounds[kind].append((p50, p99, rate))
    finally:
        for m in (go, go_free, node):
            await m.close()
    base = statistics.median(x[0] for x in rounds["in-process"])
    summary = {k: {"p50_us": statistics.median(x[0] for x in v),
                   "p99_us": statistics.median(x[1] for x in v),
                   "calls_per_s": statistics.median(x[2] for x in v),
                   "added_p50_us": statistics.median(x[0] for x in v) - base}
               for k, v in rounds.items()}
    return {"rounds": args.rounds, "calls": args.calls, "concurrency": args.concurrency,
            "summary": summary, "raw": rounds}


def markdown(result: dict[str, Any]) -> str:
    lines = [f"module calls: {result['rounds']} rounds x {result['calls']} calls, "
             f"concurrency {result['concurrency']} (medians over rounds)", "",
             "| kind | p50 µs | p99 µs | added at p50 µs | calls/s (one process) |",
             "|---|---|---|---|---|"]
    for kind, s in result["summary"].items():
        lines.append(f"| {kind} | {s['p50_us']:.1f} | {s['p99_us']:.1f} | "
                     f"{s['added_p50_us']:.1f} | {s['calls_per_s']:.0f} |")
    return "\n".join(lines)


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                         capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "gati/modules",
                            "examples/users/modules", "bench/module_calls.py"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return out.stdout.strip() + (" (modules edited since)" if dirty else "")


def _one_run(args: argparse.Namespace) -> dict[str, Any]:
    before = os.getloadavg()[0]
    result = asyncio.run(main(args))
    result["load_1m"] = [round(before, 2), round(os.getloadavg()[0], 2)]
    return result


def _snapshot(rev: str) -> tuple[str, Path]:
    sha = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    dest = RESULTS / "tmp" / f"modules-src-{sha}"
    if not (dest / "gati").is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha, "gati", "examples/users/modules",
                                  "scripts/modules.sh"], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    subprocess.run([str(dest / "scripts/modules.sh")], check=True)
    return sha, dest


def _run_from(source: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One run in a process importing gati from ``source``."""
    out = RESULTS / "tmp" / "module-calls-run.json"
    subprocess.run([sys.executable, __file__, "--one-run-to", str(out), "--rounds",
                    str(args.rounds), "--calls", str(args.calls), "--concurrency",
                    str(args.concurrency)], check=True,
                   env={**os.environ, "GATI_BENCH_SOURCE": str(source)})
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    against = None if args.against is None else _snapshot(args.against)
    runs, base_runs = [], []
    for i in range(args.runs):
        if against is None:
            runs.append(_one_run(args))
            continue
        # Alternate which goes first, so neither always meets the same moment of load.
        if i % 2:
            runs.append(_run_from(ROOT, args))
        base_runs.append(_run_from(against[1], args))
        if not i % 2:
            runs.append(_run_from(ROOT, args))
    return {"commit": _commit(), "cpus": os.cpu_count(), "runs": runs,
            "against": None if against is None else against[0], "against_runs": base_runs}


def report(results: dict[str, Any]) -> str:
    parts = [f"Measured at {results['commit']} on {results['cpus']} CPUs"
             + (f", each run paired with one of {results['against']}."
                if results.get("against") else ".")]
    for i, run in enumerate(results["runs"], 1):
        parts.append(f"\n### run {i} (1-minute load average {run['load_1m'][0]} before, "
                     f"{run['load_1m'][1]} after)\n\n{markdown(run)}")
        if results.get("against"):
            base = results["against_runs"][i - 1]
            parts.append(f"\n{results['against']}, same pairing (load {base['load_1m'][0]}"
                         f" before, {base['load_1m'][1]} after):\n\n{markdown(base)}")
    return "\n".join(parts)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--against", metavar="REV", help="pair each run with one of REV")
    parser.add_argument("--one-run-to", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.one_run_to is not None:  # a run of --against, in its own process
        options.one_run_to.write_text(json.dumps(_one_run(options)))
        sys.exit(0)
    subprocess.run([str(ROOT / "scripts/sandbox.sh")], check=True)
    subprocess.run([str(ROOT / "scripts/modules.sh")], check=True)
    result = run_all(options)
    stamp = time.strftime("%Y-%m-%d-%H%M")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stamp}-module-calls.json").write_text(json.dumps(result, indent=2))
    text = report(result)
    (RESULTS / f"{stamp}-module-calls.md").write_text(text + "\n")
    print(text)
