"""Load generators, each in its own process, with that process's CPU use measured.

* ``closed_loop``: wrk (Debian's ``wrk``, C + LuaJIT) with ``wrk.lua``: fixed concurrency,
  either N responses or a fixed duration. wrk is the cheapest client per request here,
  which matters on a two-core machine where the client competes with the server.
* ``open_loop``: ``openloop.py``, an asyncio client that sends at a fixed rate whatever
  the answers do, and times each request from when it was due (no coordinated
  omission). wrk cannot hold a rate; wrk2, which can, is not packaged by Debian.

The client's CPU comes from ``wait4`` on its process: user + system seconds.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.harness.procs import ROOT, base_env

WRK_LUA = Path(__file__).with_name("wrk.lua")


@dataclass
class LoadResult:
    kind: str
    requests: int
    ok: int
    duration_s: float
    rps: float
    latency_ms: dict[str, float]
    errors: dict[str, int]
    statuses: dict[str, int]
    client_cpu_s: float
    client_cpu_pct: float  # of one core, over the client's whole life
    settings: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values()) + (self.requests - self.ok)


def have_wrk() -> bool:
    return subprocess.run(["sh", "-c", "command -v wrk"], capture_output=True).returncode == 0


def _wait_rusage(popen: subprocess.Popen[bytes]) -> tuple[int, float]:
    """Reap ``popen`` ourselves to read its own resource use; returns (status, cpu s)."""
    _, status, usage = os.wait4(popen.pid, 0)
    popen.returncode = os.waitstatus_to_exitcode(status)
    return popen.returncode, usage.ru_utime + usage.ru_stime


def closed_loop(
    url: str,
    *,
    connections: int,
    kind: str,
    tag: str,
    stop_after: int = 0,
    duration_s: float = 10.0,
    threads: int = 1,
    timeout_s: float = 30.0,
) -> LoadResult:
    """wrk at ``connections``; ``stop_after`` responses in total, else ``duration_s``."""
    per_thread = -(-stop_after // threads) if stop_after else 0
    env = {
        **os.environ,
        "BENCH_KIND": kind,
        "BENCH_TAG": tag,
        "BENCH_STOP_AFTER": str(per_thread),
        "BENCH_PATH": urlsplit(url).path or "/",
    }
    # A count-bounded run gets a generous -d; the lua script signals when it is done.
    run_for = max(5, int(duration_s)) if not stop_after else 600
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{run_for}s",
        f"--timeout={int(timeout_s)}s",
        "-s",
        str(WRK_LUA),
        url,
    ]
    started = time.monotonic()
    popen = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert popen.stdout is not None
    out: list[str] = []
    stopped = 0
    sel = selectors.DefaultSelector()
    sel.register(popen.stdout, selectors.EVENT_READ)
    buf = b""
    while True:
        if not sel.select(timeout=1.0):
            if popen.poll() is not None:
                break
            continue
        chunk = os.read(popen.stdout.fileno(), 65536)
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace")
            out.append(line)
            if line.startswith("BENCH_STOPPED"):
                stopped += 1
                if stopped >= threads:
                    popen.send_signal(signal.SIGINT)
    sel.close()
    code, cpu = _wait_rusage(popen)
    wall = time.monotonic() - started
    summary = next((ln for ln in out if ln.startswith("BENCH_JSON ")), None)
    if summary is None:
        raise RuntimeError(f"wrk exited {code} without a summary:\n" + "\n".join(out[-20:]))
    data = json.loads(summary.removeprefix("BENCH_JSON "))
    statuses = {str(k): int(v) for k, v in data["statuses"].items()}
    ok = sum(n for s, n in statuses.items() if s.startswith("2"))
    if stop_after:
        counted = per_thread * threads
        duration = data["window_us"] / 1e6
    else:
        counted = int(data["requests"])
        duration = data["duration_us"] / 1e6
    lat = data["latency_us"]
    return LoadResult(
        kind="closed",
        requests=int(data["requests"]),
        ok=ok,
        duration_s=duration,
        rps=counted / duration if duration > 0 else 0.0,
        latency_ms={k: lat[k] / 1000 for k in ("p50", "p90", "p95", "p99", "p999", "max", "mean")},
        errors={k: int(v) for k, v in data["errors"].items() if k != "status"},
        statuses=statuses,
        client_cpu_s=cpu,
        client_cpu_pct=100 * cpu / wall if wall > 0 else 0.0,
        settings={
            "tool": "wrk",
            "connections": connections,
            "threads": threads,
            "stop_after": stop_after,
            "duration_s": duration_s if not stop_after else None,
        },
    )


def open_loop(
    url: str,
    *,
    rate: float,
    duration_s: float,
    kind: str,
    tag: str,
    max_connections: int = 512,
    timeout_s: float = 30.0,
) -> LoadResult:
    """``openloop.py`` at ``rate`` requests/s for ``duration_s``, in its own process."""
    argv = [
        sys.executable,
        "-m",
        "bench.harness.openloop",
        "--url",
        url,
        "--rate",
        str(rate),
        "--duration",
        str(duration_s),
        "--kind",
        kind,
        "--tag",
        tag,
        "--max-connections",
        str(max_connections),
        "--timeout",
        str(timeout_s),
    ]
    started = time.monotonic()
    popen = subprocess.Popen(
        argv, cwd=ROOT, env=base_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert popen.stdout is not None and popen.stderr is not None
    stdout = popen.stdout.read()
    stderr = popen.stderr.read()
    code, cpu = _wait_rusage(popen)
    wall = time.monotonic() - started
    if code != 0:
        raise RuntimeError(f"openloop exited {code}:\n{stderr.decode(errors='replace')[-2000:]}")
    data = json.loads(stdout)
    return LoadResult(
        kind="open",
        requests=data["sent"],
        ok=data["ok"],
        duration_s=data["elapsed_s"],
        rps=data["completed"] / data["elapsed_s"] if data["elapsed_s"] else 0.0,
        latency_ms=data["latency_ms"],
        errors=data["errors"],
        statuses=data["statuses"],
        client_cpu_s=cpu,
        client_cpu_pct=100 * cpu / wall if wall > 0 else 0.0,
        settings={
            "tool": "bench/harness/openloop.py",
            "rate": rate,
            "duration_s": duration_s,
            "max_connections": max_connections,
            "send_lag_ms_p99": data["send_lag_ms_p99"],
        },
    )
