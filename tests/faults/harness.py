"""A Gati system the way an operator runs it, and the faults the suite does to it.

``FaultSystem`` is gateway + two workers + recorder as separate ``gati`` processes (like
``support.KafkaSystem``, which has one worker), each killable and restartable by name.
``Broker`` and ``Postgres`` pause, kill, stop and restore the machine's real services
through the project's scripts; every fault is undone in a ``finally`` and waited out
until the service answers again, because other tests share those services.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from support import GATI, KEPT, ROOT, Proc, eventually, free_port

FAULT_APP = f"{ROOT}/tests/apps/fault_app.py:app"
WORKERS = ("worker-1", "worker-2")
# Bounded failover once the product supports it; also every request's deadline.
REQUEST_TIMEOUT_S = 10.0


def gati_env(*, bootstrap: str, database_url: str, extra: dict[str, str]) -> dict[str, str]:
    """The environment of one system: unique topics and gateway id, a shared seal key."""
    tag = uuid.uuid4().hex[:10]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATI_") or k in KEPT}
    env.update({
        "PYTHONUNBUFFERED": "1",
        "GATI_KAFKA_BOOTSTRAP": bootstrap,
        "GATI_DATABASE_URL": database_url,
        "GATI_TOPIC_PREFIX": f"f{tag}",
        "GATI_GATEWAY_ID": f"gw{tag}",
        "GATI_SEAL_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "GATI_REQUEST_TIMEOUT_S": str(REQUEST_TIMEOUT_S),
        **extra,
    })
    return env


def migrate(env: dict[str, str]) -> None:
    done = subprocess.run([GATI, "migrate"], env=env, cwd=ROOT, capture_output=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"gati migrate failed:\n{done.stdout.decode()}{done.stderr.decode()}")


@dataclass
class FaultSystem:
    """Gateway, two workers (distinct ``GATI_WORKER_ID``) and recorder on Kafka + Postgres."""

    tmp: Path
    env: dict[str, str]
    port: int
    app: str = FAULT_APP
    procs: dict[str, Proc] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return self.env["GATI_DATABASE_URL"]

    @property
    def prefix(self) -> str:
        return self.env["GATI_TOPIC_PREFIX"]

    @classmethod
    async def start(cls, tmp: Path, *, bootstrap: str, database_url: str,
                    app: str = FAULT_APP, together: bool = False, **extra: str) -> FaultSystem:
        """Start and wait until both workers answer.

        The second worker starts once the first is past its modules' start, unless
        ``together``: two workers racing on an empty database is a scenario of its own.
        """
        env = gati_env(bootstrap=bootstrap, database_url=database_url, extra=extra)
        await asyncio.to_thread(migrate, env)
        system = cls(tmp, env, free_port(), app)
        try:
            for name in ("gateway", "recorder", *WORKERS):
                system.procs[name] = system._proc(name).start()
                if name == WORKERS[0] and not together:
                    await system.wait_modules_started(1)
            await system.wait_ready()
        except BaseException:
            system.stop()
            raise
        return system

    async def wait_modules_started(self, n: int, within: float = 60.0) -> None:
        """Until ``n`` workers have started their modules (rows in ``fault_starts``)."""
        engine = create_async_engine(self.database_url)

        async def started() -> bool:
            self._raise_if_dead("while starting its modules")
            try:
                async with engine.connect() as conn:
                    count = await conn.execute(sa.text("SELECT count(*) FROM fault_starts"))
                    return int(count.scalar_one()) >= n
            except Exception:  # no table until the first ledger module starts
                return False

        try:
            await eventually(started, within=within, what=f"{n} worker(s) past module start")
        finally:
            await engine.dispose()

    def _proc(self, name: str) -> Proc:
        env = dict(self.env)
        if name == "gateway":
            # Given the app, the gateway sends typed bodies as Avro, as in production.
            args = ["gateway", self.app, "--port", str(self.port)]
        elif name.startswith("worker"):
            env["GATI_WORKER_ID"] = f"{self.prefix}-{name}"
            args = ["worker", self.app]
        else:
            args = ["recorder"]
        return Proc(name, args, env, self.tmp / f"{name}.log")

    def worker_id(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        self.procs[name].kill(sig)

    def restart(self, name: str) -> None:
        """Start ``name`` again with the same settings (same ids, same port)."""
        old = self.procs[name]
        if old.alive():
            raise AssertionError(f"{name} is still running; kill it before a restart")
        old.stop()  # closes its log file
        self.restarts[name] = self.restarts.get(name, 0) + 1
        self.procs[name] = self._proc(name).start()

    def dead(self) -> dict[str, str]:
        """Processes that exited, with the end of their log."""
        return {n: p.tail(30) for n, p in self.procs.items() if not p.alive()}

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()

    def logs(self, n: int = 30) -> str:
        return "\n".join(f"--- {name}\n{p.tail(n)}" for name, p in self.procs.items())

    async def wait_ready(self, within: float = 90.0) -> None:
        """Health, then requests answered by both workers: the group has formed."""
        async with httpx.AsyncClient(base_url=self.base_url, timeout=5) as client:

            async def healthy() -> bool:
                self._raise_if_dead("during start")
                try:
                    return (await client.get("/_gati/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(healthy, within=within, what="gateway health")
        await self.wait_serving_by_both(within=within)

    async def wait_serving_by_both(self, within: float = 90.0) -> None:
        """Probes until the record shows both workers answering (each owns partitions)."""
        engine = create_async_engine(self.database_url)
        wanted = {self.worker_id(w) for w in WORKERS}
        try:
            async with httpx.AsyncClient(base_url=self.base_url,
                                         timeout=REQUEST_TIMEOUT_S + 5) as client:

                async def both() -> set[str] | bool:
                    self._raise_if_dead("while waiting for both workers")
                    await asyncio.gather(*(_probe(client) for _ in range(8)))
                    seen = await _workers_seen(engine)
                    return wanted <= seen or False

                await eventually(both, within=within, what="both workers answering requests")
        finally:
            await engine.dispose()

    def _raise_if_dead(self, when: str) -> None:
        for name, tail in self.dead().items():
            raise AssertionError(f"{name} exited {when}: {exit_reason(tail)}\n{tail}")


def exit_reason(log: str) -> str:
    """The line of a process's log that says why it exited (gati's own error line)."""
    lines = log.splitlines()
    for line in lines:
        if line.startswith("gati:") or "Error:" in line or "Traceback" in line:
            return line.strip()[:400]
    return lines[-1].strip()[:400] if lines else "(empty log)"


async def _probe(client: httpx.AsyncClient) -> None:
    with contextlib.suppress(httpx.TransportError):
        await client.get("/_ready_probe")  # 404 from a worker, recorded with its id


async def _workers_seen(engine: AsyncEngine) -> set[str]:
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(sa.text(
                "SELECT DISTINCT worker_id FROM lifecycle_events WHERE worker_id IS NOT NULL"))
            return {r[0] for r in rows}
    except Exception:  # tables not there yet, or the database restarting
        return set()


# ---- the machine's services --------------------------------------------------------


def _script(name: str, verb: str, timeout: float = 180) -> str:
    done = subprocess.run([str(ROOT / "scripts" / name), verb], cwd=ROOT, capture_output=True,
                          timeout=timeout, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/{name} {verb} failed ({done.returncode}):\n"
                           f"{done.stdout}{done.stderr}")
    return done.stdout


class Broker:
    """The single Kafka broker of scripts/kafka.sh: its pid is in the script's pid file."""

    @staticmethod
    def pid() -> int:
        state = Path(os.environ.get("GATI_STATE_DIR", Path.home() / ".local/state/gati"))
        return int((state / "kafka" / "kafka.pid").read_text().strip())

    @classmethod
    def signal(cls, sig: int) -> None:
        os.kill(cls.pid(), sig)

    @classmethod
    def kill(cls) -> None:
        pid = cls.pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _exists(pid) and time.monotonic() < deadline:
            time.sleep(0.1)  # the kernel reaps it in a moment; the port closes with it

    @staticmethod
    async def start() -> None:
        """``kafka.sh start`` returns once the broker logs "Kafka Server started"."""
        await asyncio.to_thread(_script, "kafka.sh", "start")

    @classmethod
    @asynccontextmanager
    async def paused(cls) -> AsyncIterator[None]:
        cls.signal(signal.SIGSTOP)
        try:
            yield
        finally:
            cls.signal(signal.SIGCONT)

    @classmethod
    @asynccontextmanager
    async def killed(cls) -> AsyncIterator[None]:
        cls.kill()
        try:
            yield
        finally:
            await cls.start()


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Postgres:
    """The cluster of scripts/postgres.sh (pg_ctlcluster), stopped and started whole."""

    @staticmethod
    @asynccontextmanager
    async def stopped() -> AsyncIterator[None]:
        await asyncio.to_thread(_script, "postgres.sh", "stop")
        try:
            yield
        finally:
            await asyncio.to_thread(_script, "postgres.sh", "start")  # waits for pg_isready


# ---- a database per test -----------------------------------------------------------


async def create_database(admin_url: str) -> str:
    name = f"gati_f_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(admin_url: str, url: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            name = make_url(url).database
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()
