"""CPU and memory of the processes under test while a phase runs (psutil).

CPU is the change in user + system time of each process and its children over the
phase, as a percentage of one core; RSS is the peak seen by a 0.25 s sampler thread.
The Kafka broker and PostgreSQL are sampled too (``infra``): on two cores they compete
with everything else, so their share explains a lot.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

KAFKA_PIDFILE = Path.home() / ".local/state/gati/kafka/kafka.pid"


def infra_pids() -> dict[str, list[int]]:
    """The broker (from ``scripts/kafka.sh``'s pid file) and the postgres processes."""
    found: dict[str, list[int]] = {"kafka": [], "postgres": []}
    with contextlib.suppress(OSError, ValueError):
        found["kafka"].append(int(KAFKA_PIDFILE.read_text().strip()))
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == "postgres":
            found["postgres"].append(proc.pid)
    return found


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _cpu(procs: list[psutil.Process]) -> dict[int, float]:
    out: dict[int, float] = {}
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
    return out


@dataclass
class _Watch:
    name: str
    roots: list[int]
    procs: list[psutil.Process]
    cpu0: dict[int, float]
    rss_peak: int = 0

    def current(self) -> list[psutil.Process]:
        """The processes now (postgres forks a backend per new connection)."""
        if self.name == "postgres":
            return [psutil.Process(pid) for pid in infra_pids()["postgres"]]
        return [p for pid in self.roots for p in _tree(pid)]


@dataclass
class Sample:
    wall_s: float
    cpu_pct: dict[str, float] = field(default_factory=dict)
    rss_mb: dict[str, float] = field(default_factory=dict)
    machine_cpu_pct: float = 0.0  # all cores, 200 = both busy
    other_cpu_pct: float = 0.0  # machine minus the sampled processes: client, noise
    kafka_restarted: bool = False  # the broker's pid changed: the phase is not comparable

    def as_dict(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_s, 3),
            "cpu_pct_of_one_core": {k: round(v, 1) for k, v in self.cpu_pct.items()},
            "rss_mb_peak": {k: round(v, 1) for k, v in self.rss_mb.items()},
            "machine_cpu_pct": round(self.machine_cpu_pct, 1),
            "other_cpu_pct": round(self.other_cpu_pct, 1),
            "kafka_restarted": self.kafka_restarted,
        }


@contextlib.contextmanager
def sample(groups: dict[str, list[int]], *, with_infra: bool = True) -> Iterator[Sample]:
    """Measure ``groups`` (name -> root pids, children included) over the ``with`` body."""
    all_groups = dict(groups)
    if with_infra:
        for name, pids in infra_pids().items():
            all_groups.setdefault(name, pids)
    watches = []
    for name, pids in all_groups.items():
        procs = [p for pid in pids for p in _tree(pid)]
        watches.append(_Watch(name, pids, procs, _cpu(procs)))
    result = Sample(0.0)
    kafka_before = infra_pids()["kafka"]
    stop = threading.Event()

    def rss_loop() -> None:
        while not stop.is_set():
            for w in watches:
                total = 0
                for p in w.procs:
                    with contextlib.suppress(psutil.Error):
                        total += p.memory_info().rss
                w.rss_peak = max(w.rss_peak, total)
            stop.wait(0.25)

    thread = threading.Thread(target=rss_loop, daemon=True)
    machine0 = psutil.cpu_times()
    t0 = time.monotonic()
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        wall = time.monotonic() - t0
        machine1 = psutil.cpu_times()
        result.wall_s = wall
        busy0 = sum(machine0) - machine0.idle - getattr(machine0, "iowait", 0.0)
        busy1 = sum(machine1) - machine1.idle - getattr(machine1, "iowait", 0.0)
        result.machine_cpu_pct = 100 * (busy1 - busy0) / wall if wall > 0 else 0.0
        for w in watches:
            try:
                now = w.current()
            except psutil.Error:
                now = w.procs
            cpu1 = _cpu(now)
            used = sum(cpu1[pid] - w.cpu0.get(pid, 0.0) for pid in cpu1)
            result.cpu_pct[w.name] = 100 * used / wall if wall > 0 else 0.0
            result.rss_mb[w.name] = w.rss_peak / 2**20
        result.other_cpu_pct = result.machine_cpu_pct - sum(result.cpu_pct.values())
        result.kafka_restarted = infra_pids()["kafka"] != kafka_before
        if result.kafka_restarted:
            print("  warning: the Kafka broker restarted during this phase (not by the bench)")
