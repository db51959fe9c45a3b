"""Store on SQLite: idempotent writes, ordered reads, and the migration's shape."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from gati.core.envelopes import LifecycleEvent, RequestEnvelope
from gati.store import Store, migrate
from gati.store.migrate import current_revision
from gati.store.tables import metadata

MakeEnvelope = Callable[..., RequestEnvelope]
AT_US = 1_750_000_000_123_456


def trail(request_id: str, n: int = 5, *, status: int = 201) -> list[LifecycleEvent]:
    stages = ["received", "routed", "handler_start", "handler_end", "responded"]
    return [
        LifecycleEvent(
            request_id=request_id, seq=i, stage=stages[i % len(stages)], at_us=AT_US + i,
            handler_id="users.create" if i else None,
            status=status if stages[i % len(stages)] in ("handler_end", "responded") else None,
            worker_id="wk-1",
        )
        for i in range(n)
    ]


async def count(store: Store, table: str) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_recording_the_same_batch_twice_writes_each_row_once(
    store: Store, make_envelope: MakeEnvelope
) -> None:
    env = make_envelope(method="POST", path="/users", body=b'{"a":1}')
    events = trail(env.request_id)

    await store.record([env], events)
    await store.record([env], events)

    assert await count(store, "requests") == 1
    assert await count(store, "lifecycle_events") == len(events)
    assert await store.count_events() == len(events)
    assert [r.seq for r in await store.lifecycle(env.request_id)] == [0, 1, 2, 3, 4]


async def test_the_first_write_of_an_event_wins(store: Store) -> None:
    first = LifecycleEvent("r", 0, "received", AT_US, detail="first")
    replay = LifecycleEvent("r", 0, "received", AT_US, detail="replayed")
    await store.record([], [first])
    await store.record([], [replay])
    assert [r.detail for r in await store.lifecycle("r")] == ["first"]


async def test_lifecycle_comes_back_ordered_by_seq(store: Store) -> None:
    events = trail("r-1", n=12)
    shuffled = events[:]
    random.Random(4).shuffle(shuffled)
    await store.record([], shuffled[:6])
    await store.record([], shuffled[6:])

    rows = await store.lifecycle("r-1")
    assert [r.seq for r in rows] == list(range(12))
    assert [r.stage for r in rows] == [e.stage for e in events]
    assert await store.lifecycle("someone-else") == []


@pytest.mark.parametrize("responded_first", [False, True])
async def test_the_responded_event_fills_the_request_row_in_either_order(
    store: Store, make_envelope: MakeEnvelope, responded_first: bool
) -> None:
    env = make_envelope(method="POST", path="/users", query="x=1", client="10.0.0.1",
                        headers=(("content-type", "application/json"),), body=b"{}")
    events = trail(env.request_id, status=201)
    if responded_first:
        await store.record([], events)
        await store.record([env], [])
    else:
        await store.record([env], [])
        await store.record([], events)

    row = await store.get_request(env.request_id)
    assert row is not None
    assert (row["method"], row["path"], row["query"], row["client"]) == (
        "POST", "/users", "x=1", "10.0.0.1")
    assert row["body"] == b"{}"
    assert row["status"] == 201
    assert row["handler_id"] == "users.create"
    assert row["completed_at"] is not None
    completed = row["completed_at"]
    if completed.tzinfo is None:  # SQLite keeps no offset; the value is UTC
        completed = completed.replace(tzinfo=UTC)
    assert completed == datetime.fromtimestamp((AT_US + 4) / 1e6, tz=UTC)


async def test_a_request_without_an_answer_yet_has_no_status(
    store: Store, make_envelope: MakeEnvelope
) -> None:
    env = make_envelope()
    await store.record([env], trail(env.request_id, n=3))
    row = await store.get_request(env.request_id)
    assert row is not None
    assert row["status"] is None
    assert row["completed_at"] is None
    assert await store.get_request("unknown") is None


async def test_timestamps_come_back_timezone_aware(store: Store) -> None:
    await store.record([], [LifecycleEvent("r", 0, "responded", AT_US, status=200)])
    row = await store.get_request("r")
    assert row is not None
    assert row["completed_at"].tzinfo is not None
    assert (await store.lifecycle("r"))[0].at.tzinfo is not None


def _head() -> str:
    from alembic.script import ScriptDirectory

    from gati.store.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def _table_names(store: Store) -> set[str]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(sa.text("SELECT name FROM sqlite_master WHERE type = 'table'"))
        return {r[0] for r in rows}


async def test_migrate_is_idempotent_and_uses_gatis_own_version_table(store: Store) -> None:
    await store.record([], trail("kept"))

    await migrate(store.engine)
    await migrate(store.engine)

    tables = await _table_names(store)
    assert "gati_alembic_version" in tables
    assert "alembic_version" not in tables  # left free for the application's own Alembic
    assert await current_revision(store.engine) == _head()
    assert len(await store.lifecycle("kept")) == 5  # data survives a re-run


async def test_migration_creates_the_columns_of_schema_py(store: Store) -> None:
    def columns(sync_conn: Any) -> dict[str, set[str]]:
        inspector = sa.inspect(sync_conn)
        return {t: {c["name"] for c in inspector.get_columns(t)} for t in metadata.tables}

    async with store.engine.connect() as conn:
        migrated = await conn.run_sync(columns)

    declared = {name: {c.name for c in table.columns} for name, table in metadata.tables.items()}
    assert migrated == declared
    assert {"requests", "lifecycle_events", "handler_versions"} <= set(declared)
