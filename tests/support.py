"""Running Gati for tests as users run it: real ``gati`` processes on real services.

``KafkaSystem`` starts gateway, worker and recorder as separate processes (so a test
can SIGKILL one); ``DevSystem`` starts ``gati dev``. Both expose a base URL and the
database URL of their record, which is all a behaviour test needs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import pytest

# The worker engine under test is the run's choice, as the backend is: the suite runs
# with GATI_WORKER_ENGINE=aiokafka as well as the default.
KEPT = {"GATI_WORKER_ENGINE"}
ROOT = Path(__file__).resolve().parents[1]
GATI = shutil.which("gati", path=str(Path(sys.executable).parent)) or "gati"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def eventually(
    probe: Callable[[], Awaitable[T]], *, within: float = 30.0, what: str = "condition"
) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``within`` s."""
    deadline = time.monotonic() + within
    last: Any = None
    while True:
        last = await probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}; last: {last!r}")
        await asyncio.sleep(0.1)


@dataclass
class Proc:
    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self) -> Proc:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            [GATI, *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.popen is not None
        self.popen.send_signal(sig)
        self.popen.wait(timeout=30)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        if self._log is not None:
            self._log.close()

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _base_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATI_") or k in KEPT}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass
class System:
    kind: str
    base_url: str
    database_url: str
    procs: dict[str, Proc] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    app: str = "examples.users.app:app"

    def stop(self, *, replay: bool = True) -> None:
        """Stop the processes; first replay every request this system recorded.

        Every request the test suite sends is thereby replayed against the record, and a
        divergence fails the module that caused it.
        """
        try:
            if replay:
                asyncio.run(replay_everything(self))
        finally:
            for proc in self.procs.values():
                proc.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{p.tail()}" for n, p in self.procs.items())

    def client(self, timeout: float = 40.0) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=timeout)


class DevSystem(System):
    @classmethod
    def start(
        cls, tmp: Path, *, extra_env: dict[str, str], app: str = "examples.users.app:app"
    ) -> DevSystem:
        port = free_port()
        db = f"sqlite+aiosqlite:///{tmp}/gati.db"
        env = _base_env({"GATI_DATABASE_URL": db, **extra_env})
        proc = Proc(
            "dev", ["dev", app, "--port", str(port)], env, tmp / "dev.log"
        ).start()
        system = cls("embedded", f"http://127.0.0.1:{port}", db, {"dev": proc}, env, app)
        deadline = time.monotonic() + 60
        while "Gati dev server for" not in proc.tail(200):
            if not proc.alive() or time.monotonic() > deadline:
                system.stop(replay=False)
                raise RuntimeError(f"gati dev did not start:\n{proc.tail()}")
            time.sleep(0.1)
        return system


class KafkaSystem(System):
    @classmethod
    def start(
        cls,
        tmp: Path,
        *,
        bootstrap: str,
        database_url: str,
        extra_env: dict[str, str],
        app: str = "examples.users.app:app",
    ) -> KafkaSystem:
        tag = uuid.uuid4().hex[:10]
        port = free_port()
        env = _base_env(
            {
                "GATI_KAFKA_BOOTSTRAP": bootstrap,
                "GATI_DATABASE_URL": database_url,
                "GATI_TOPIC_PREFIX": f"t{tag}",
                "GATI_GATEWAY_ID": f"gw{tag}",
                "GATI_SEAL_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
                **extra_env,
            }
        )
        subprocess.run([GATI, "migrate"], env=env, cwd=ROOT, check=True, capture_output=True)
        system = cls("kafka", f"http://127.0.0.1:{port}", database_url, {}, env, app)
        system.procs["gateway"] = Proc(
            # Given the app, the gateway sends typed bodies as Avro, as in production.
            "gateway", ["gateway", app, "--port", str(port)], env, tmp / "gateway.log"
        ).start()
        system.procs["worker"] = Proc(
            "worker", ["worker", app], env, tmp / "worker.log"
        ).start()
        # Each process serves health and metrics on GATI_METRICS_PORT; on one machine the
        # recorder needs a port of its own.
        recorder_env = ({**env, "GATI_METRICS_PORT": str(free_port())}
                        if "GATI_METRICS_PORT" in env else env)
        system.procs["recorder"] = Proc(
            "recorder", ["recorder"], recorder_env, tmp / "recorder.log").start()
        try:
            asyncio.run(system._wait_ready())
        except BaseException:
            system.stop(replay=False)
            raise
        return system

    def restart(self, name: str, tmp: Path) -> Proc:
        old = self.procs[name]
        self.procs[name] = Proc(name, old.args, self.env, tmp / f"{name}.log").start()
        return self.procs[name]

    async def _wait_ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=5) as client:

            async def healthy() -> bool:
                for name, proc in self.procs.items():
                    if not proc.alive():
                        raise RuntimeError(f"{name} exited during start:\n{proc.tail()}")
                try:
                    return (await client.get("/_gati/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(healthy, within=60, what="gateway health")
        # A request the worker answers proves the consumer group has formed.
        async with httpx.AsyncClient(base_url=self.base_url, timeout=60) as client:
            response = await client.get("/_ready_probe")
            if response.status_code != 404:
                raise RuntimeError(f"worker not answering: {response.status_code}\n{self.logs()}")


def start_system(
    kind: str,
    tmp: Path,
    request: pytest.FixtureRequest,
    *,
    app: str = "examples.users.app:app",
    **env: str,
) -> System:
    """``gati dev`` ("embedded") or the three processes on Kafka and Postgres ("kafka")."""
    if kind == "embedded":
        return DevSystem.start(tmp, extra_env=env, app=app)
    bootstrap = request.getfixturevalue("kafka_bootstrap")
    db = request.getfixturevalue("fresh_pg_database")
    return KafkaSystem.start(tmp, bootstrap=bootstrap, database_url=db, extra_env=env, app=app)


async def replay_everything(system: System) -> None:
    """Replay all complete records of ``system`` once the recorder has caught up."""
    from sqlalchemy import text

    from gati.cli.loader import load_app
    from gati.replay import Replayer
    from gati.store import open_store

    store = await open_store(system.database_url)
    try:

        async def settled() -> bool:
            first = await store.count_events()
            await asyncio.sleep(0.3)  # a quiet interval is the condition: no new rows
            return first == await store.count_events()

        await eventually(settled, within=30, what="the recorder to catch up")
        async with store.engine.connect() as conn:
            ids = [r[0] for r in await conn.execute(text(
                "SELECT request_id FROM requests WHERE status IS NOT NULL "
                "AND method IS NOT NULL ORDER BY received_at"))]
        app = load_app(system.app)
        batch = await Replayer(app=app, engine=store.engine).replay_many(ids)
        problems = [f"{r.request_id}: {r.divergence.message if r.divergence else r.error}"
                    for r in (*batch.diverged, *batch.failed)
                    if r.error != "no complete record"]
        assert not problems, (
            f"{len(problems)} of {batch.total} recorded requests did not replay identically:\n"
            + "\n".join(problems[:10]))
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def served_on_loopback(server: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``server`` (a ``uvicorn.Server`` on a loopback port), running in this
    loop until the block ends: the one way the unit tests serve an ASGI app for real."""
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task  # it failed to start: its error, not a hang
        await asyncio.sleep(0.01)
    port = server.config.port
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            yield c
    finally:
        server.should_exit = True
        await task
