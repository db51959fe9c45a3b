"""Writes and reads of the record, one dialect-neutral implementation.

Writes are idempotent so the recorder can replay a batch after a crash: lifecycle rows
are keyed by (request_id, seq) and the first write wins; a request's row is an upsert
fed from two sources (its envelope and its ``responded`` event) that fill disjoint
columns, so their arrival order does not matter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from gati.core.envelopes import LifecycleEvent, RequestEnvelope, Stage
from gati.core.ports import LogRecord
from gati.errors import ConfigError, StoreError
from gati.store.errors import map_store_errors
from gati.store.tables import lifecycle_events, requests
from gati.store.timeline import IN_CHUNK, answered_window, read_timelines
from gati.store.timeline import Timeline as Timeline  # re-exported for readers
from gati.store.timeline import TimelineStep as TimelineStep  # re-exported for readers

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
    "body_schema",
    "trace_id",
    "principal",
    "log_topic",
    "log_partition",
    "log_offset",
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


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What ``Store.prune`` deleted (or, with ``dry_run``, would delete)."""

    before: datetime
    requests: int
    lifecycle_events: int
    batches: int
    dry_run: bool


def create_engine(url: str) -> AsyncEngine:
    """An engine for ``url``, as Gati's store uses it: also for an app's own modules.

    SQLite files get their directory created and WAL mode (``gati dev`` has several
    writers); a loopback Postgres is reached without TLS unless the URL asks for it.

    Raises:
        ConfigError: not a postgresql or sqlite URL.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError(f"GATI_DATABASE_URL {url!r} is not a database URL: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine.sync_engine, "connect", _sqlite_wal)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(
            f"unsupported database {parsed.get_backend_name()!r} (postgresql or sqlite)"
        )
    args: dict[str, Any] = {}
    if parsed.host in _LOOPBACK and "ssl" not in parsed.query and "sslmode" not in parsed.query:
        # asyncpg would negotiate TLS even to this machine; the profile showed its cost.
        args["ssl"] = False
    return create_async_engine(url, pool_size=5, max_overflow=5, pool_pre_ping=True,
                               connect_args=args)


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    """WAL: readers never wait for the writer, and gati dev's several writers (record,
    app modules) queue for the lock instead of failing."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Store:
    def __init__(self, engine: AsyncEngine, *, copy_events: bool = True) -> None:
        """``copy_events``: on Postgres, write lifecycle rows with COPY (the default;
        False keeps the multi-row INSERT, the baseline ``bench/store_write.py`` runs)."""
        self.engine = engine
        name = engine.dialect.name
        self._insert = postgresql.insert if name == "postgresql" else sqlite.insert
        self._copy = copy_events and name == "postgresql" and engine.dialect.driver == "asyncpg"

    async def close(self) -> None:
        await self.engine.dispose()

    async def record(
        self, envelopes: Sequence[RequestEnvelope], events: Sequence[LifecycleEvent],
        *, body_schemas: Mapping[str, int] | None = None,
        positions: Mapping[str, LogRecord] | None = None,
    ) -> None:
        """Write one batch in one transaction; safe to call again with the same batch.

        ``body_schemas``: request id -> the schema its body travelled in on Kafka (the
        envelopes given here already hold that body as JSON). ``positions``: request id
        -> the message it was recorded from, so a row leads back to its Kafka record.
        """
        wire = body_schemas or {}
        at = positions or {}
        env_rows = {e.request_id: {**_envelope_row(e), "body_schema": wire.get(e.request_id),
                                   **_position_row(at.get(e.request_id))}
                    for e in envelopes}
        event_rows: dict[tuple[str, int], LifecycleEvent] = {}
        outcome_rows: dict[str, dict[str, Any]] = {}
        version_rows: dict[str, dict[str, Any]] = {}
        for ev in events:
            event_rows.setdefault((ev.request_id, ev.seq), ev)
            if ev.stage == _ROUTED and ev.detail:
                version = _routed_version(ev.detail)
                if version is not None:
                    version_rows[ev.request_id] = {"request_id": ev.request_id,
                                                   "handler_id": ev.handler_id,
                                                   "version": version}
            if ev.stage == _RESPONDED and ev.request_id not in outcome_rows:
                # One outcome per request: the first answer wins here and in the table.
                outcome_rows[ev.request_id] = {
                    "request_id": ev.request_id,
                    "handler_id": ev.handler_id,
                    "status": ev.status,
                    "error_code": ev.error_code,
                    "completed_at": _ts(ev.at_us),
                }
        with map_store_errors(f"writing {len(envelopes)} requests and {len(events)} events"):
            async with self.engine.begin() as conn:
                await self._upsert(conn, list(env_rows.values()), _ENVELOPE_COLUMNS)
                await self._upsert(conn, list(outcome_rows.values()), _OUTCOME_COLUMNS,
                                   first_wins=True)
                await self._upsert(conn, list(version_rows.values()),
                                   ("handler_id", "version"))
                if event_rows and self._copy:
                    await _copy_events(conn, event_rows.values())
                elif event_rows:
                    stmt = self._insert(lifecycle_events).on_conflict_do_nothing(
                        index_elements=["request_id", "seq"]
                    )
                    await conn.execute(stmt, [_event_row(ev) for ev in event_rows.values()])

    async def _upsert(
        self, conn: AsyncConnection, rows: list[dict[str, Any]], columns: tuple[str, ...],
        *, first_wins: bool = False,
    ) -> None:
        """``first_wins``: the outcome of a request is never overwritten. A request that
        was delivered twice answers once; a later ``responded`` step (from a worker that
        ran it again) stays a lifecycle row, visible, and never changes the status."""
        if not rows:
            return
        stmt = self._insert(requests)
        stmt = stmt.on_conflict_do_update(
            index_elements=["request_id"], set_={c: stmt.excluded[c] for c in columns},
            where=requests.c.status.is_(None) if first_wins else None,
        )
        await conn.execute(stmt, rows)

    async def get_request(self, request_id: str) -> dict[str, Any] | None:
        query = sa.select(requests).where(requests.c.request_id == request_id)
        with map_store_errors(f"reading request {request_id}"):
            async with self.engine.connect() as conn:
                row = (await conn.execute(query)).mappings().first()
        return dict(row) if row else None

    async def lifecycle(self, request_id: str) -> list[LifecycleRow]:
        q = (
            sa.select(lifecycle_events)
            .where(lifecycle_events.c.request_id == request_id)
            .order_by(lifecycle_events.c.seq)
        )
        with map_store_errors(f"reading the lifecycle of {request_id}"):
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
        query = sa.select(sa.func.count()).select_from(lifecycle_events)
        with map_store_errors("counting lifecycle events"):
            async with self.engine.connect() as conn:
                return int((await conn.execute(query)).scalar_one())

    async def timeline(self, request_id: str) -> Timeline | None:
        """Everything recorded about one request, or None when nothing is."""
        return (await self.timelines([request_id])).get(request_id)

    async def timelines(self, request_ids: Sequence[str]) -> dict[str, Timeline]:
        """The timelines of ``request_ids`` that have anything recorded, by id.

        Two queries per 500 ids, whatever their number of steps: replay loads its
        batches this way.
        """
        with map_store_errors(f"reading {len(request_ids)} requests"):
            async with self.engine.connect() as conn:
                return await read_timelines(conn, request_ids)

    async def window(
        self, *, since: datetime, until: datetime | None = None, handler: str | None = None,
        limit: int | None = None,
    ) -> list[str]:
        """Ids of the answered requests received in [since, until), oldest first.

        Only requests whose envelope is recorded (replay needs it); ``handler``: only
        this handler id.
        """
        query = answered_window(since=since, until=until, handler=handler, limit=limit)
        with map_store_errors(f"listing requests received since {since.isoformat()}"):
            async with self.engine.connect() as conn:
                return [r[0] for r in await conn.execute(query)]

    async def prune(
        self, before: datetime, *, batch_size: int = 1000, dry_run: bool = False
    ) -> PruneResult:
        """Delete whole requests older than ``before``: their row and all their events.

        A request's age is its ``received_at`` (its ``completed_at`` when the envelope
        was never recorded); events whose request has no row go when their last event is
        older than ``before``. Each batch of ``batch_size`` requests is one transaction,
        so a long prune never holds locks for long and can be interrupted safely.
        ``dry_run`` only counts what would go.
        """
        if before.tzinfo is None:
            raise ValueError("before must be timezone-aware")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        before = before.astimezone(UTC)
        selections = _prunable(before)
        with map_store_errors(f"pruning history before {before.isoformat()}"):
            if dry_run:
                return await self._count_prunable(before, selections)
            n_requests = n_events = batches = 0
            for select_ids, has_row in selections:
                while True:
                    async with self.engine.begin() as conn:
                        ids = list(
                            (await conn.execute(select_ids.limit(batch_size))).scalars().all()
                        )
                        if not ids:
                            break
                        batches += 1
                        for chunk in _chunks(ids, IN_CHUNK):
                            n_events += await _delete(conn, lifecycle_events, chunk)
                            if has_row:
                                n_requests += await _delete(conn, requests, chunk)
                    if len(ids) < batch_size:
                        break
        return PruneResult(before, n_requests, n_events, batches, dry_run=False)

    async def _count_prunable(
        self, before: datetime, selections: list[tuple[sa.Select[Any], bool]]
    ) -> PruneResult:
        n_requests = n_events = 0
        async with self.engine.connect() as conn:
            for select_ids, has_row in selections:
                ids = select_ids.subquery()
                n_events += int(
                    (
                        await conn.execute(
                            sa.select(sa.func.count())
                            .select_from(lifecycle_events)
                            .where(lifecycle_events.c.request_id.in_(sa.select(ids.c.request_id)))
                        )
                    ).scalar_one()
                )
                if has_row:
                    n_requests += int(
                        (
                            await conn.execute(sa.select(sa.func.count()).select_from(ids))
                        ).scalar_one()
                    )
        return PruneResult(before, n_requests, n_events, 0, dry_run=True)


_ROUTED, _RESPONDED = Stage.ROUTED.value, Stage.RESPONDED.value  # once, not per row
_EVENT_COLUMNS = ("request_id", "seq", "stage", "at", "handler_id", "status", "error_code",
                  "detail", "worker_id")
_STAGE_EVENTS = ("CREATE TEMP TABLE IF NOT EXISTS gati_events_in "
                 "(LIKE lifecycle_events) ON COMMIT DELETE ROWS")
_MERGE_EVENTS = (f"INSERT INTO lifecycle_events ({', '.join(_EVENT_COLUMNS)}) "
                 f"SELECT {', '.join(_EVENT_COLUMNS)} FROM gati_events_in "
                 "ON CONFLICT (request_id, seq) DO NOTHING")


async def _copy_events(conn: AsyncConnection, events: Iterable[LifecycleEvent]) -> None:
    """Lifecycle rows into Postgres by COPY into a session temp table, then one INSERT.

    COPY cannot skip conflicts, and first write wins per (request_id, seq), so rows go
    to a staging table emptied at commit and are merged with ON CONFLICT DO NOTHING, in
    the caller's transaction. The SQL statement first makes sure that transaction has
    begun on the connection before the driver is used directly.
    """
    await conn.exec_driver_sql(_STAGE_EVENTS)
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    # The driver is used directly, so its errors arrive unwrapped by SQLAlchemy: the
    # caller's map_store_errors turns them into StoreError, which the recorder retries.
    await driver.copy_records_to_table(
        "gati_events_in", columns=_EVENT_COLUMNS,
        records=[(ev.request_id, ev.seq, ev.stage, _ts(ev.at_us), ev.handler_id, ev.status,
                  ev.error_code, ev.detail, ev.worker_id) for ev in events])
    await conn.exec_driver_sql(_MERGE_EVENTS)


def _routed_version(detail: str) -> str | None:
    """The version that served a request, from its ``routed`` step.

    The one place the version is derived: ``record`` writes it to ``requests.version``,
    and every reader (history, replay, the views' users) takes that column as the truth.
    A lifecycle event carries its detail only as JSON text, hence the parse here.
    """
    try:
        value = json.loads(detail).get("version")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


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
        "trace_id": None if env.trace is None else env.trace.trace_id,
        "principal": _principal(env),
    }


def _principal(env: RequestEnvelope) -> str | None:
    """Who the gateway established the caller was; a refused credential names no one."""
    if env.auth is None or env.auth.principal is None:
        return None
    return env.auth.principal.subject


def _position_row(at: LogRecord | None) -> dict[str, Any]:
    if at is None:
        return {"log_topic": None, "log_partition": None, "log_offset": None}
    return {"log_topic": at.topic, "log_partition": at.partition, "log_offset": at.offset}


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


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def _delete(conn: AsyncConnection, table: sa.Table, ids: list[str]) -> int:
    result = await conn.execute(sa.delete(table).where(table.c.request_id.in_(ids)))
    return int(result.rowcount)


def _prunable(before: datetime) -> list[tuple[sa.Select[Any], bool]]:
    """Selections of prunable request ids, each with whether it has a ``requests`` row.

    Three, so that each can use an index: by ``received_at``; rows whose envelope never
    arrived (aged by ``completed_at``); and events with no row at all.
    """
    r = requests.c
    by_received = sa.select(r.request_id).where(r.received_at < before)
    by_completed = sa.select(r.request_id).where(
        r.received_at.is_(None), r.completed_at < before
    )
    ev = lifecycle_events.alias("ev")
    later = lifecycle_events.alias("later")
    orphans = (
        sa.select(ev.c.request_id)
        .where(
            ev.c.at < before,
            ~sa.exists().where(r.request_id == ev.c.request_id),
            ~sa.exists().where(later.c.request_id == ev.c.request_id, later.c.at >= before),
        )
        .distinct()
    )
    return [(by_received, True), (by_completed, True), (orphans, False)]


async def open_store(url: str, *, migrate_first: bool = False) -> Store:
    from gati.store.migrate import migrate

    engine = create_engine(url)
    where = make_url(url).render_as_string(hide_password=True)
    try:
        with map_store_errors(f"opening the database at {where}"):
            if migrate_first:
                await migrate(engine)
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
    except StoreError:
        await engine.dispose()
        raise
    return Store(engine)
