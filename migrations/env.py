"""Alembic environment for Gati's own tables.

Run through ``gati migrate`` (which passes an open connection), or with the plain
``alembic`` CLI using ``GATI_DATABASE_URL``. The version table is Gati's own.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from gati.store.tables import metadata

config = context.config
VERSION_TABLE = config.attributes.get("version_table", "gati_alembic_version")


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Gati's migrations run online only: use `gati migrate`")

connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_async(os.environ["GATI_DATABASE_URL"]))
