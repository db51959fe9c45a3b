"""Sampling profiles of running processes with py-spy, summarised as text.

``py-spy record --format raw`` writes collapsed stacks ("frame;frame;... count"), one line
per distinct stack, sampling only threads that are running (not idle in ``epoll``). The
summary gives the share of samples by package of the innermost frame ("where the CPU
goes") and the top functions by self and by inclusive samples.
"""

from __future__ import annotations

import asyncio
import gzip
import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

PY_SPY = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


async def record(pids: dict[str, int], out_dir: Path, seconds: float) -> dict[str, Path]:
    """Profile every pid for ``seconds`` at once; returns name -> raw stacks file."""
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    procs = {}
    for name, pid in pids.items():
        path = out_dir / f"{name}.stacks.txt"
        procs[name] = (
            path,
            await asyncio.create_subprocess_exec(
                PY_SPY,
                "record",
                "--format",
                "raw",
                "--nonblocking",
                "--rate",
                "200",
                "-d",
                str(int(seconds)),
                "-o",
                str(path),
                "--pid",
                str(pid),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            ),
        )
    done: dict[str, Path] = {}
    for name, (path, proc) in procs.items():
        _, err = await proc.communicate()
        if proc.returncode == 0 and path.exists():
            done[name] = path
        else:
            print(f"py-spy on {name} failed: {err.decode(errors='replace')[-500:]}")
    return done


def archive(files: dict[str, Path], dest: Path) -> dict[str, Path]:
    """Gzip the raw stacks into ``dest`` (about 20x smaller) for committing with results."""
    dest.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, path in files.items():
        target = dest / f"{path.name}.gz"
        target.write_bytes(gzip.compress(path.read_bytes(), mtime=0))
        out[name] = target
    return out


def _package(file: str) -> str:
    """``gati.codec``, ``aiokafka``, ``asyncio``...: py-spy names files from sys.path."""
    if "site-packages/" in file:
        file = file.split("site-packages/", 1)[1]
    parts = file.split("/")
    if parts[0] == "gati" and len(parts) > 2:
        return f"gati.{parts[1]}"
    return parts[0].removesuffix(".py") or "?"


def _parse(frame: str) -> tuple[str, str]:
    m = _FRAME.match(frame)
    if not m:
        return frame, "?"
    return m["func"], m["file"]


IDLE_LEAVES = ("EpollSelector.select", "select", "KqueueSelector.select")


def _read(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode(errors="replace")


def summarise(path: Path, top: int = 15) -> dict[str, Any]:
    """Shares of the busy samples; a stack whose innermost frame is the event loop's
    ``select`` is waiting, not working (py-spy's ``--nonblocking`` mode does not always
    tell), so it is counted as idle and left out of the shares."""
    total = idle = 0
    by_package: Counter[str] = Counter()
    self_fn: Counter[str] = Counter()
    incl_fn: Counter[str] = Counter()
    for line in _read(path).splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        frames = [_parse(f) for f in stack.split(";")]
        func, file = frames[-1]
        if func in IDLE_LEAVES:
            idle += count
            continue
        total += count
        by_package[_package(file)] += count
        self_fn[f"{func} ({_short(file)})"] += count
        for name in {f"{fn} ({_short(fl)})" for fn, fl in frames}:
            incl_fn[name] += count

    def share(counter: Counter[str], cap: float = 101.0) -> list[tuple[str, float]]:
        if not total:
            return []
        pcts = [(k, round(100 * v / total, 1)) for k, v in counter.most_common()]
        return [(k, p) for k, p in pcts if p < cap][:top]

    return {
        "samples": total,
        "idle_samples": idle,
        "by_package_pct": share(by_package),
        "self_pct": share(self_fn),
        # Frames on (nearly) every stack (main, run_forever...) say nothing: left out.
        "inclusive_pct": share(incl_fn, cap=60.0),
    }


def _short(file: str) -> str:
    for marker in ("site-packages/", "/work/main/", "/lib/python3.11/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file
