"""Result files and the small statistics the reports need."""

from __future__ import annotations

import functools
import json
import platform
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil

from bench.harness.procs import ROOT

RESULTS = ROOT / "bench" / "results"
TMP = RESULTS / "tmp"  # logs and profiles of a run; ignored by git


@functools.cache
def stamp() -> str:
    """Today's date, then -2, -3, ... if results of today are already there: a second
    run the same day must not overwrite the first's committed figures. Once per run, so
    all of a run's files share it."""
    day = time.strftime("%Y-%m-%d")
    n = 1
    while any(RESULTS.glob(f"{day if n == 1 else f'{day}-{n}'}[.-]*")):
        n += 1
    return day if n == 1 else f"{day}-{n}"


def run_dir(name: str) -> Path:
    path = TMP / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    return path


def machine(gati_ref: str | None = None) -> dict[str, Any]:
    def version(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    commit = version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "gati"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if gati_ref is not None:  # a snapshot of a commit: clean by construction
        commit, dirty = gati_ref, ""
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git_commit": commit + ("+dirty(gati/)" if dirty else ""),
        "python": platform.python_version(),
        "cpus": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": [round(x, 2) for x in psutil.getloadavg()],
        "wrk": version(["wrk", "--version"]),
    }


def median_spread(values: list[float]) -> dict[str, float | int | None]:
    """Median, min, max and the spread ((max - min) / median) of repeats."""
    vals = [v for v in values if v is not None]
    if not vals:
        return {"median": None, "min": None, "max": None, "spread_pct": None, "n": 0}
    med = statistics.median(vals)
    return {
        "median": med,
        "min": min(vals),
        "max": max(vals),
        "spread_pct": round(100 * (max(vals) - min(vals)) / med, 1) if med else None,
        "n": len(vals),
    }


def table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
