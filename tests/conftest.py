"""Shared fixtures: the real services, fresh databases, running Gati systems.

Kafka and Postgres are never mocked. When ``GATI_REQUIRE_SERVICES=1`` (always in CI,
set by scripts/test.sh) an unreachable service fails the run; otherwise the tests that
need it are skipped with a reason that says how to start it.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import socket
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

REQUIRED = os.environ.get("GATI_REQUIRE_SERVICES") == "1" or os.environ.get("CI") == "true"
KAFKA = os.environ.get("GATI_KAFKA_BOOTSTRAP", "localhost:9092")
PG_URL = os.environ.get("GATI_DATABASE_URL", "postgresql+asyncpg://gati:gati@127.0.0.1:5432/gati")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _need(service: str, host: str, port: int, how: str) -> None:
    if _reachable(host, port):
        return
    message = f"{service} is not reachable at {host}:{port}; start it with {how}"
    if REQUIRED:
        pytest.fail(message + " (GATI_REQUIRE_SERVICES=1: services are required)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    host, _, port = KAFKA.split(",")[0].rpartition(":")
    _need("Kafka", host or "localhost", int(port), "scripts/kafka.sh start")
    if _alone_on_the_broker():
        asyncio.run(_delete_old_test_topics(KAFKA))
    return KAFKA


_RUNS_LOCK = "/tmp/gati-tests-kafka.lock"
_held: list[int] = []


def _alone_on_the_broker() -> bool:
    """Whether no other test run on this machine uses the broker; holds a share from now.

    Every run holds a shared lock for its lifetime; only a run that first gets the lock
    exclusively (nobody else running) may delete old test topics, so two runs side by
    side never delete each other's topics. The OS drops the lock when a run dies.
    """
    fd = os.open(_RUNS_LOCK, os.O_CREAT | os.O_RDWR, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        alone = True
    except BlockingIOError:
        alone = False
    fcntl.flock(fd, fcntl.LOCK_SH)
    _held.append(fd)
    return alone


# Topics of earlier test runs: the prefixes test systems use (t1a2b3c4d5e.requests, f.., o..);
# bench runs (bare hex prefixes) share the broker and are left alone.
_TEST_TOPIC = re.compile(r"^([tfo][0-9a-f]{8,12}|tsigterm\d+)\.")


async def _delete_old_test_topics(bootstrap: str) -> None:
    """Delete what earlier runs left on the test broker, before this run makes its own.

    Every test system declares topics under a fresh prefix and none deletes them; a
    broker with thousands of partitions takes long to restart after kill -9, which the
    fault suite does. Only names of that shape go; nothing this run made exists yet.
    """
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="gati-tests")
    try:
        await admin.start()
        old = [t for t in await admin.list_topics() if _TEST_TOPIC.match(t)]
        for i in range(0, len(old), 200):
            await admin.delete_topics(old[i : i + 200], timeout_ms=60_000)
    except Exception as exc:  # a broker that refuses is the tests' problem, not this
        print(f"conftest: could not delete old test topics: {exc!r}")
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = make_url(PG_URL)
    _need("PostgreSQL", url.host or "127.0.0.1", url.port or 5432, "scripts/postgres.sh start")
    return PG_URL


async def _create_database(admin_url: str) -> str:
    name = f"gati_t_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def _drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


@pytest.fixture(scope="module")
def fresh_pg_database(postgres_url: str) -> Iterator[str]:
    """A new, empty Postgres database for one test module, dropped afterwards."""
    url = asyncio.run(_create_database(postgres_url))
    yield url
    asyncio.run(_drop_database(postgres_url, url))
