"""Workers starting together on an empty database all create the example's schema.

``metadata.create_all`` checks for the table, then creates it; two workers in between
both create, and Postgres refuses the second one's row type (a unique violation on
``pg_type``). Each round here starts several ``UsersDB`` at once on a new database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from support import free_port

from examples.users.db import UsersDB

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]

ROUNDS = 5
WORKERS = 4


@pytest_asyncio.fixture
async def empty_databases(postgres_url: str) -> AsyncIterator[list[str]]:
    """A new, empty Postgres database per round (the race only exists on an empty one)."""
    names = [f"gati_t_{uuid.uuid4().hex[:12]}" for _ in range(ROUNDS)]
    admin = create_async_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            for name in names:
                await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        base = make_url(postgres_url)
        yield [base.set(database=n).render_as_string(hide_password=False) for n in names]
    finally:
        async with admin.connect() as conn:
            for name in names:
                await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def _start_together(url: str) -> list[BaseException | None]:
    dbs = [UsersDB({"database_url": url}) for _ in range(WORKERS)]
    try:
        results = await asyncio.gather(*(db.start() for db in dbs), return_exceptions=True)
        return [r if isinstance(r, BaseException) else None for r in results]
    finally:
        await asyncio.gather(*(db.close() for db in dbs))


async def test_concurrent_starts_on_an_empty_database_all_succeed(
    empty_databases: list[str],
) -> None:
    for round_no, url in enumerate(empty_databases):
        failures = [repr(e) for e in await _start_together(url) if e is not None]
        assert not failures, f"round {round_no}: {len(failures)} of {WORKERS} failed: {failures}"
        db = UsersDB({"database_url": url})
        await db.start()  # and a later start on the made schema is a no-op
        try:
            user = await db.insert_user("Ada", f"ada{round_no}@x.io")
            assert await db.get_user(user["id"]) == user
        finally:
            await db.close()


async def test_a_start_while_the_database_is_unreachable_waits_for_it() -> None:
    """A refused connection delays the module's start (and so the worker's); it does not
    end it, so a worker started during an outage joins once the database is back."""
    db = UsersDB({"database_url": f"postgresql+asyncpg://gati:gati@127.0.0.1:{free_port()}/x"})
    start = asyncio.ensure_future(db.start())
    try:
        done, _ = await asyncio.wait({start}, timeout=2.0)  # several refused attempts
        assert not done, start.exception()
    finally:
        start.cancel()
        await asyncio.gather(start, return_exceptions=True)
        await db.close()
