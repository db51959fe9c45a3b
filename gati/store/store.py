"""Writes and reads of the record, one dialect-neutral implementation.

Writes are idempotent so the recorder can replay a batch after a crash: lifecycle rows
are keyed by (request_id, seq) and the first write wins; a request's row is an upsert
fed from two sources (its envelope and its ``responded`` event) that fill disjoint
columns, so their arrival order does not matter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from gati.core.envelopes import LifecycleEvent, RequestEnvelope, Stage
from gati.errors import ConfigError, StoreError
from gati.store.schema import lifecycle_events, requests

_ENVELOPE_COLUMNS = (
    "received_at",
    "method",
    "path",
    "query",
    "headers",
    "body",
    "client",
    "gateway_id",
    "version_pref",
    "deadline_at",
)
_OUTCOME_COLUMNS = ("handler_id", "status", "error_code", "completed_at")


def _ts(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1e6, tz=UTC)


@dataclass(frozen=True, slots=True)
class LifecycleRow:
    request_id: str
    seq: int
    stage: str
    at: datetime
    handler_id: str | None
    status: int | None
    error_code: str | None
    detail: str | None


def create_engine(url: str) -> AsyncEngine:
    """An engine for ``url``; SQLite files get their directory created."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError(f"GATI_DATABASE_URL {url!r} is not a database URL: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        return create_async_engine(url)
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(
            f"unsupported database {parsed.get_backend_name()!r} (postgresql or sqlite)"
        )
    return create_async_engine(url, pool_size=5, max_overflow=5, pool_pre_ping=True)


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        name = engine.dialect.name
        self._insert = postgresql.insert if name == "postgresql" else sqlite.insert

    async def close(self) -> None:
        await self.engine.dispose()

    async def record(
        self, envelopes: Sequence[RequestEnvelope], events: Sequence[LifecycleEvent]
    ) -> None:
        """Write one batch in one transaction; safe to call again with the same batch."""
        env_rows = {e.request_id: _envelope_row(e) for e in envelopes}
        event_rows: dict[tuple[str, int], dict[str, Any]] = {}
        outcome_rows: dict[str, dict[str, Any]] = {}
        for ev in events:
            event_rows.setdefault((ev.request_id, ev.seq), _event_row(ev))
            if ev.stage == Stage.RESPONDED.value:
                outcome_rows[ev.request_id] = {
                    "request_id": ev.request_id,
                    "handler_id": ev.handler_id,
                    "status": ev.status,
                    "error_code": ev.error_code,
                    "completed_at": _ts(ev.at_us),
                }
        try:
            async with self.engine.begin() as conn:
                await self._upsert(conn, list(env_rows.values()), _ENVELOPE_COLUMNS)
                await self._upsert(conn, list(outcome_rows.values()), _OUTCOME_COLUMNS)
                if event_rows:
                    stmt = self._insert(lifecycle_events).on_conflict_do_nothing(
                        index_elements=["request_id", "seq"]
                    )
                    await conn.execute(stmt, list(event_rows.values()))
        except SQLAlchemyError as exc:
            raise StoreError(f"writing {len(events)} events failed: {exc}") from exc

    async def _upsert(
        self, conn: AsyncConnection, rows: list[dict[str, Any]], columns: tuple[str, ...]
    ) -> None:
        if not rows:
            return
        stmt = self._insert(requests)
        stmt = stmt.on_conflict_do_update(
            index_elements=["request_id"], set_={c: stmt.excluded[c] for c in columns}
        )
        await conn.execute(stmt, rows)

    async def get_request(self, request_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                (await conn.execute(sa.select(requests).where(requests.c.request_id == request_id)))
                .mappings()
                .first()
            )
        return dict(row) if row else None

    async def lifecycle(self, request_id: str) -> list[LifecycleRow]:
        q = (
            sa.select(lifecycle_events)
            .where(lifecycle_events.c.request_id == request_id)
            .order_by(lifecycle_events.c.seq)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [
            LifecycleRow(
                r["request_id"],
                r["seq"],
                r["stage"],
                r["at"],
                r["handler_id"],
                r["status"],
                r["error_code"],
                r["detail"],
            )
            for r in rows
        ]

    async def count_events(self) -> int:
        async with self.engine.connect() as conn:
            return int(
                (
                    await conn.execute(sa.select(sa.func.count()).select_from(lifecycle_events))
                ).scalar_one()
            )


def _envelope_row(env: RequestEnvelope) -> dict[str, Any]:
    return {
        "request_id": env.request_id,
        "received_at": _ts(env.received_at_us),
        "method": env.method,
        "path": env.path,
        "query": env.query,
        "headers": json.dumps([list(h) for h in env.headers]),
        "body": env.body,
        "client": env.client,
        "gateway_id": env.gateway_id,
        "version_pref": env.version_pref,
        "deadline_at": _ts(env.deadline_at_us),
    }


def _event_row(ev: LifecycleEvent) -> dict[str, Any]:
    return {
        "request_id": ev.request_id,
        "seq": ev.seq,
        "stage": ev.stage,
        "at": _ts(ev.at_us),
        "handler_id": ev.handler_id,
        "status": ev.status,
        "error_code": ev.error_code,
        "detail": ev.detail,
        "worker_id": ev.worker_id,
    }


async def open_store(url: str, *, migrate_first: bool = False) -> Store:
    from gati.store.migrate import migrate

    engine = create_engine(url)
    try:
        if migrate_first:
            await migrate(engine)
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        await engine.dispose()
        where = make_url(url).render_as_string(hide_password=True)
        raise StoreError(f"cannot reach the database at {where}: {exc}") from exc
    return Store(engine)
