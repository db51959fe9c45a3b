"""Child processes for the benchmarks: started with a log file, stopped by their own pid.

Every process is started in its own session, so stopping it signals only the process the
bench started (and its children), never anything found by name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
GATI = shutil.which("gati", path=str(VENV_BIN)) or "gati"


# Where ``gati`` (and ``examples``) are imported from: the working tree, or a snapshot of
# a committed revision (``use_gati_ref``), so that edits in progress neither break nor
# silently change a run, and the result names exactly what was measured.
_source: Path | None = None


def use_gati_ref(ref: str, into: Path) -> str:
    """Snapshot ``ref``'s gati/, examples/, schemas/ and migrations/; returns its commit."""
    global _source
    sha = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dest = into / f"src-{sha}"
    if not (dest / "gati").is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", sha, "gati", "examples", "schemas", "migrations"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    _source = dest
    return sha


def source_dir() -> Path:
    """The directory gati runs from (its cwd, first on PYTHONPATH)."""
    return _source or ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The parent's environment without any ``GATI_*``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATI_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([str(source_dir()), str(ROOT)]))
    env.update(extra or {})
    return env


@dataclass
class Proc:
    """One long-running child process whose output goes to ``log_path``."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> Proc:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            self.argv,
            cwd=source_dir(),
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen is not None and self.popen.poll() is None:
            # The whole session: a process that forked helpers takes them with it.
            _signal_group(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)  # the session leader's group id is its pid


@dataclass
class Group:
    """The processes of one system under test."""

    procs: dict[str, Proc] = field(default_factory=dict)

    def add(self, proc: Proc) -> Proc:
        self.procs[proc.name] = proc.start()
        return proc

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if not proc.alive():
                raise RuntimeError(f"{name} exited:\n{proc.tail()}")

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            proc.stop()

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.procs.items() if p.alive()}

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{p.tail()}" for n, p in self.procs.items())


def wait_http(
    url: str,
    group: Group,
    *,
    status: int = 200,
    within: float = 90.0,
    method: str = "GET",
    request_timeout: float = 5.0,
    body: bytes | None = None,
) -> None:
    """Poll ``url`` until it answers ``status``; fail with the processes' logs."""
    deadline = time.monotonic() + within
    headers = {"content-type": "application/json"} if body is not None else None
    last: object = None
    while time.monotonic() < deadline:
        group.check_alive()
        try:
            last = httpx.request(
                method, url, content=body, headers=headers, timeout=request_timeout
            ).status_code
            if last == status:
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.2)
    raise RuntimeError(
        f"{url} did not answer {status} within {within}s (last: {last!r})\n{group.logs()}"
    )
