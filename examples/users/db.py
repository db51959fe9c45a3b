"""The example's database module: users in the app's SQL database (Postgres or SQLite).

A module is a plain object the worker starts once and shares with every request
through ``gctx.modules``. This one owns a SQLAlchemy async engine.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

metadata = sa.MetaData()
users = sa.Table(
    "example_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("email", sa.Text, nullable=False, unique=True),
)


class EmailTaken(Exception):
    pass


class UsersDB:
    def __init__(self, config: dict[str, Any]) -> None:
        self.url: str = config["database_url"]
        self.engine: AsyncEngine | None = None

    async def start(self) -> None:
        if self.url.startswith("sqlite"):
            self.engine = create_async_engine(self.url, connect_args={"timeout": 30})
        else:
            self.engine = create_async_engine(self.url, pool_size=10)
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

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
                    users.insert().values(name=name, email=email).returning(users)
                )
                return dict(result.mappings().one())
        except IntegrityError:
            raise EmailTaken(email) from None

    async def get_user(self, user_id: int) -> dict[str, Any] | None:
        async with self._engine().connect() as conn:
            row = (
                (await conn.execute(users.select().where(users.c.id == user_id))).mappings().first()
            )
        return dict(row) if row else None

    async def update_user(self, user_id: int, changes: dict[str, str]) -> dict[str, Any] | None:
        try:
            async with self._engine().begin() as conn:
                result = await conn.execute(
                    users.update().where(users.c.id == user_id).values(**changes).returning(users)
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
        query = users.select().where(users.c.id > after).order_by(users.c.id).limit(limit)
        async with self._engine().connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]
