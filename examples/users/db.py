"""The example's database module: users in the app's SQL database (Postgres or SQLite).

A module is a plain object the worker starts once and shares with every request
through ``gctx.modules``. This one owns a SQLAlchemy async engine.

One table serves both API versions. ``name`` is the display name every version reads;
``first_name``/``last_name`` (added for v2, nullable) keep a v2 client's split exactly.
Rows written through v1 (or before v2 existed) have them NULL, and v2 reads derive them
from ``name`` (first word, rest). The ``*_user`` methods answer v1's ``{id, name,
email}``, the ``*_person`` methods v2's ``{id, first_name, last_name, email}``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gati.errors import StoreUnavailable
from gati.store import create_engine
from gati.store.errors import map_store_errors

log = logging.getLogger(__name__)

metadata = sa.MetaData()
users = sa.Table(
    "example_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("email", sa.Text, nullable=False, unique=True),
    sa.Column("first_name", sa.Text, nullable=True),
    sa.Column("last_name", sa.Text, nullable=True),
)
# A Postgres advisory lock key for creating this schema: any constant of this app's own.
SCHEMA_LOCK = 0x6761_7469_7573_6572  # "gatiuser"
# What v1 reads: the table as it was before v2.
V1_COLUMNS = (users.c.id, users.c.name, users.c.email)
V2_COLUMNS = (users.c.id, users.c.name, users.c.email, users.c.first_name, users.c.last_name)


def split_name(name: str) -> tuple[str, str]:
    """``"Ada King Lovelace"`` -> ``("Ada", "King Lovelace")``; one word -> (word, "")."""
    first, _, last = name.strip().partition(" ")
    return first, last.strip()


def join_name(first: str, last: str) -> str:
    return f"{first} {last}" if last else first


class EmailTaken(Exception):
    pass


class UsersDB:
    def __init__(self, config: dict[str, Any]) -> None:
        self.url: str = config["database_url"]
        self.engine: AsyncEngine | None = None

    async def start(self) -> None:
        # Gati's own engine settings: WAL for SQLite, no TLS to a loopback Postgres
        # (the worker's profile spent a fifth of its time encrypting to 127.0.0.1).
        self.engine = create_engine(self.url)
        delay = 0.5
        while True:  # a database that is down delays the worker's start, never ends it
            try:
                with map_store_errors("creating the example's tables"):
                    return await self._create_schema(self.engine)
            except StoreUnavailable as exc:
                log.warning("%s; retrying in %.1fs", exc.message, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    @staticmethod
    async def _create_schema(engine: AsyncEngine) -> None:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # create_all checks, then creates: workers starting together on an empty
                # database both create, and the loser fails on pg_type's unique index.
                # One at a time; the lock goes with the transaction. (SQLite's writers
                # already queue for its one database lock.)
                await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": SCHEMA_LOCK})
            await conn.run_sync(metadata.create_all)
            await conn.run_sync(_add_v2_columns)

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()

    def _engine(self) -> AsyncEngine:
        assert self.engine is not None, "module not started"
        return self.engine

    async def insert_user(self, name: str, email: str) -> dict[str, Any]:
        try:
            async with self._engine().begin() as conn:
                result = await conn.execute(
                    users.insert().values(name=name, email=email).returning(*V1_COLUMNS)
                )
                return dict(result.mappings().one())
        except IntegrityError:
            raise EmailTaken(email) from None

    async def get_user(self, user_id: int) -> dict[str, Any] | None:
        async with self._engine().connect() as conn:
            query = sa.select(*V1_COLUMNS).where(users.c.id == user_id)
            row = (await conn.execute(query)).mappings().first()
        return dict(row) if row else None

    async def update_user(self, user_id: int, changes: dict[str, str]) -> dict[str, Any] | None:
        values: dict[str, Any] = dict(changes)
        if "name" in values:  # a v1 rename: v2 derives the split from the new name
            values.update(first_name=None, last_name=None)
        try:
            async with self._engine().begin() as conn:
                result = await conn.execute(
                    users.update().where(users.c.id == user_id).values(**values)
                    .returning(*V1_COLUMNS)
                )
                row = result.mappings().first()
        except IntegrityError:
            raise EmailTaken(changes.get("email", "")) from None
        return dict(row) if row else None

    async def delete_user(self, user_id: int) -> bool:
        async with self._engine().begin() as conn:
            result = await conn.execute(users.delete().where(users.c.id == user_id))
        return bool(result.rowcount)

    async def list_users(self, limit: int, after: int) -> list[dict[str, Any]]:
        query = (
            sa.select(*V1_COLUMNS).where(users.c.id > after).order_by(users.c.id).limit(limit)
        )
        async with self._engine().connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]

    # v2: first and last name kept apart.

    async def insert_person(self, first_name: str, last_name: str, email: str) -> dict[str, Any]:
        try:
            async with self._engine().begin() as conn:
                result = await conn.execute(
                    users.insert()
                    .values(name=join_name(first_name, last_name), email=email,
                            first_name=first_name, last_name=last_name)
                    .returning(*V2_COLUMNS)
                )
                return _person(result.mappings().one())
        except IntegrityError:
            raise EmailTaken(email) from None

    async def get_person(self, user_id: int) -> dict[str, Any] | None:
        async with self._engine().connect() as conn:
            query = sa.select(*V2_COLUMNS).where(users.c.id == user_id)
            row = (await conn.execute(query)).mappings().first()
        return _person(row) if row else None

    async def update_person(
        self, user_id: int, changes: dict[str, str]
    ) -> dict[str, Any] | None:
        """Change ``first_name``, ``last_name`` and/or ``email``; ``name`` follows."""
        try:
            async with self._engine().begin() as conn:
                query = sa.select(*V2_COLUMNS).where(users.c.id == user_id).with_for_update()
                row = (await conn.execute(query)).mappings().first()
                if row is None:
                    return None
                current = _person(row)
                first = changes.get("first_name", current["first_name"])
                last = changes.get("last_name", current["last_name"])
                values = {"first_name": first, "last_name": last, "name": join_name(first, last)}
                if "email" in changes:
                    values["email"] = changes["email"]
                result = await conn.execute(
                    users.update().where(users.c.id == user_id).values(**values)
                    .returning(*V2_COLUMNS)
                )
                return _person(result.mappings().one())
        except IntegrityError:
            raise EmailTaken(changes.get("email", "")) from None

    async def list_people(self, limit: int, after: int) -> list[dict[str, Any]]:
        query = (
            sa.select(*V2_COLUMNS).where(users.c.id > after).order_by(users.c.id).limit(limit)
        )
        async with self._engine().connect() as conn:
            return [_person(r) for r in (await conn.execute(query)).mappings()]


def _person(row: Any) -> dict[str, Any]:
    """A v2 row: the stored split, or one derived from ``name`` for rows v1 wrote."""
    if row["first_name"] is not None:
        first, last = row["first_name"], row["last_name"] or ""
    else:
        first, last = split_name(row["name"])
    return {"id": row["id"], "first_name": first, "last_name": last, "email": row["email"]}


def _add_v2_columns(conn: sa.Connection) -> None:
    """Tables made before v2 lack first_name/last_name: add them, nullable, so rows
    written before stay valid (v2 derives their split from ``name``)."""
    have = {c["name"] for c in sa.inspect(conn).get_columns(users.name)}
    for column in ("first_name", "last_name"):
        if column in have:
            continue
        exists = "IF NOT EXISTS " if conn.dialect.name == "postgresql" else ""
        conn.execute(sa.text(f"ALTER TABLE {users.name} ADD COLUMN {exists}{column} TEXT"))
