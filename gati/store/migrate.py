"""Run Gati's Alembic migrations on an engine.

Gati keeps its revision in ``gati_alembic_version``, so an application that uses Alembic
for its own tables in the same database never sees Gati's history, nor the reverse.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

VERSION_TABLE = "gati_alembic_version"


def migrations_dir() -> Path:
    here = Path(__file__).resolve()
    checkout = here.parents[2] / "migrations"
    if (checkout / "env.py").exists():
        return checkout
    return here.parent / "_migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["connection"] = connection
    cfg.attributes["version_table"] = VERSION_TABLE
    return cfg


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the database behind ``engine`` to ``revision`` (idempotent)."""

    def upgrade(sync_conn: Connection) -> None:
        command.upgrade(alembic_config(sync_conn), revision)

    async with engine.begin() as conn:
        await conn.run_sync(upgrade)


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    def read(sync_conn: Connection) -> str | None:
        ctx = MigrationContext.configure(sync_conn, opts={"version_table": VERSION_TABLE})
        return ctx.get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(read)
