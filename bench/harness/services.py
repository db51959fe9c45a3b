"""The real services the benchmarks use: a fresh Postgres database, Kafka offsets, and
Gati itself started as users start it (``gati dev``, or ``gati migrate`` then
gateway, worker and recorder as separate processes)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.harness.procs import (
    GATI,
    ROOT,
    Group,
    Proc,
    base_env,
    free_port,
    source_dir,
    wait_http,
)

KAFKA = os.environ.get("GATI_BENCH_KAFKA", "localhost:9092")
# libpq form; the SQLAlchemy form for Gati is derived from it.
PG = os.environ.get("GATI_BENCH_PG", "postgresql://gati:gati@127.0.0.1:5432/gati")


def pg_url(database: str, *, driver: str = "") -> str:
    """``PG`` pointed at ``database``; ``driver`` e.g. ``asyncpg`` for SQLAlchemy."""
    base, _, _ = PG.rpartition("/")
    scheme, rest = base.split("://", 1)
    return f"{scheme}{'+' + driver if driver else ''}://{rest}/{database}"


async def create_database(name: str) -> None:
    conn = await asyncpg.connect(PG)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(name: str, attempts: int = 10) -> None:
    """Drop ``name``; retried, since an autovacuum worker (not ours to end) may hold it."""
    conn = await asyncpg.connect(PG)
    try:
        for attempt in range(attempts):
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except asyncpg.PostgresError:
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(1.0)
    finally:
        await conn.close()


async def delete_topics(prefix: str) -> None:
    """Remove a run's topics so the broker does not accumulate them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA, client_id="gati-bench")
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


class KafkaOffsets:
    """Sum of end offsets per topic: how many records each topic holds."""

    def __init__(self) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, client_id="gati-bench")
        self._admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA, client_id="gati-bench")
        self._partitions: dict[str, list[int]] = {}

    async def start(self) -> None:
        await self._consumer.start()
        await self._admin.start()

    async def stop(self) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def totals(self, topics: list[str]) -> dict[str, int]:
        missing = [t for t in topics if t not in self._partitions]
        if missing:
            for desc in await self._admin.describe_topics(missing):
                ids = sorted(p["partition"] for p in desc.get("partitions") or [])
                if ids:
                    self._partitions[desc["topic"]] = ids
        parts = [TopicPartition(t, p) for t in topics for p in self._partitions.get(t, [])]
        ends = await self._consumer.end_offsets(parts) if parts else {}
        out = dict.fromkeys(topics, 0)
        for tp, end in ends.items():
            out[tp.topic] += end
        return out


@dataclass(frozen=True)
class RecordCounts:
    requests: int  # rows in ``requests``
    complete: int  # of those, with both the envelope and the ``responded`` outcome
    lifecycle: int  # rows in ``lifecycle_events``

    @property
    def rows(self) -> int:
        return self.requests + self.lifecycle


_COUNTS = (
    "SELECT (SELECT count(*) FROM requests), "
    "(SELECT count(*) FROM requests WHERE completed_at IS NOT NULL "
    "AND received_at IS NOT NULL), (SELECT count(*) FROM lifecycle_events)"
)


class Record:
    """Counts in Gati's record, Postgres or SQLite."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pg: asyncpg.Connection | None = None

    async def counts(self) -> RecordCounts:
        if self.url.startswith("sqlite"):
            return await asyncio.to_thread(self._sqlite_counts)
        if self._pg is None:
            self._pg = await asyncpg.connect(self.url.replace("+asyncpg", ""))
        row = await self._pg.fetchrow(_COUNTS)
        assert row is not None
        return RecordCounts(int(row[0]), int(row[1]), int(row[2]))

    def _sqlite_counts(self) -> RecordCounts:
        path = self.url.split(":///", 1)[1]
        for _ in range(50):
            try:
                with contextlib.closing(sqlite3.connect(path, timeout=5)) as conn:
                    a, b, c = conn.execute(_COUNTS).fetchone()
                    return RecordCounts(int(a), int(b), int(c))
            except sqlite3.OperationalError:
                # Locked by the writer, or the tables are not there yet.
                pass
        return RecordCounts(0, 0, 0)

    async def close(self) -> None:
        if self._pg is not None:
            await self._pg.close()
            self._pg = None


@dataclass
class GatiSystem:
    kind: str  # "embedded" or "kafka"
    base_url: str
    database_url: str
    group: Group
    topic_prefix: str = ""
    database_name: str = ""
    env: dict[str, str] = field(default_factory=dict)
    tmp: Path = ROOT

    @property
    def topics(self) -> dict[str, str]:
        p = self.topic_prefix
        return {"requests": f"{p}.requests", "lifecycle": f"{p}.lifecycle"}

    def restart(self, name: str) -> Proc:
        old = self.group.procs[name]
        old.stop()
        proc = Proc(name, old.argv, old.env, old.log_path)
        return self.group.add(proc)

    async def close(self) -> None:
        self.group.stop()
        if self.kind == "kafka":
            for step in (delete_topics(self.topic_prefix + "."), drop_database(self.database_name)):
                try:
                    await step
                except Exception as exc:  # cleanup only: say so, carry on
                    print(f"  cleanup of {self.topic_prefix} failed: {exc!r}")


def _ready(base_url: str, group: Group) -> None:
    wait_http(f"{base_url}/_gati/health", group, within=90)
    # A request the worker answers (404: no such route) proves the consumer group formed.
    wait_http(f"{base_url}/_ready_probe", group, status=404, within=120, request_timeout=60)


def start_embedded(app: str, tmp: Path) -> GatiSystem:
    """``gati dev APP`` on a SQLite file in ``tmp``."""
    port = free_port()
    db = f"sqlite+aiosqlite:///{tmp}/gati.db"
    env = base_env({"GATI_DATABASE_URL": db})
    group = Group()
    group.add(Proc("dev", [GATI, "dev", app, "--port", str(port)], env, tmp / "dev.log"))
    system = GatiSystem("embedded", f"http://127.0.0.1:{port}", db, group, env=env, tmp=tmp)
    try:
        _ready(system.base_url, group)
    except BaseException:
        group.stop()
        raise
    return system


async def start_kafka(
    app: str, tmp: Path, *, lifecycle: str = "on", extra_env: dict[str, str] | None = None,
    typed_bodies: bool = True,
) -> GatiSystem:
    """Gateway, worker and recorder on a fresh database and unique topics.

    ``typed_bodies``: the gateway gets the app, as in production, and sends typed bodies
    as Avro; False runs it without the app (every body as JSON), to price the encoding.
    """
    tag = uuid.uuid4().hex[:10]
    db_name = f"gati_bench_{tag}"
    await create_database(db_name)
    db_url = pg_url(db_name, driver="asyncpg")
    port = free_port()
    env = base_env(
        {
            "GATI_KAFKA_BOOTSTRAP": KAFKA,
            "GATI_DATABASE_URL": db_url,
            "GATI_TOPIC_PREFIX": f"b{tag}",
            "GATI_GATEWAY_ID": f"gw{tag}",
            **(extra_env or {}),
        }
    )
    worker_env = {**env, "GATI_LIFECYCLE": lifecycle}
    proc = await asyncio.create_subprocess_exec(
        GATI,
        "migrate",
        env=env,
        cwd=source_dir(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        await drop_database(db_name)
        raise RuntimeError(f"gati migrate failed:\n{out.decode(errors='replace')}")
    group = Group()
    system = GatiSystem(
        "kafka", f"http://127.0.0.1:{port}", db_url, group, f"b{tag}", db_name, env, tmp
    )
    gateway_app = [app] if typed_bodies else []
    group.add(Proc("gateway", [GATI, "gateway", *gateway_app, "--port", str(port)], env,
                   tmp / "gateway.log"))
    group.add(Proc("worker", [GATI, "worker", app], worker_env, tmp / "worker.log"))
    group.add(Proc("recorder", [GATI, "recorder"], env, tmp / "recorder.log"))
    try:
        await asyncio.to_thread(_ready, system.base_url, group)
    except BaseException:
        await system.close()
        raise
    return system
