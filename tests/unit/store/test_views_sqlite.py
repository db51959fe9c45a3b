"""The SQL views on SQLite: present after migrate, gone after a downgrade, and right.

The cookbook (tests/integration/test_sql_cookbook.py) checks the documented queries on
both databases; these tests pin what the views themselves promise on the embedded one.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from _history_seed import CREATE, V1, seed
from alembic import command
from sqlalchemy.engine import Connection

from gati.core.envelopes import LifecycleEvent
from gati.store import Store, migrate
from gati.store.migrate import alembic_config
from gati.store.views import VIEW_COLUMNS

BASE = datetime(2025, 6, 15, 12, tzinfo=UTC)
AT_US = int(BASE.timestamp()) * 1_000_000


async def views(store: Store) -> set[str]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(sa.text("SELECT name FROM sqlite_master WHERE type = 'view'"))
        return {r[0] for r in rows}


async def query(store: Store, sql: str, **params: object) -> list[tuple[object, ...]]:
    async with store.engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(sa.text(sql), params)]


async def test_migrate_creates_every_view_with_its_columns(store: Store) -> None:
    assert await views(store) == set(VIEW_COLUMNS)
    for name, columns in VIEW_COLUMNS.items():
        async with store.engine.connect() as conn:
            result = await conn.execute(sa.text(f"SELECT * FROM {name} LIMIT 0"))
            assert tuple(result.keys()) == columns, name


async def test_downgrading_below_0002_drops_the_views_and_upgrading_restores_them(
    store: Store,
) -> None:
    seeded = await seed(store, BASE)

    def downgrade(sync_conn: Connection) -> None:
        command.downgrade(alembic_config(sync_conn), "0001")

    async with store.engine.begin() as conn:
        await conn.run_sync(downgrade)
    assert await views(store) == set()
    await migrate(store.engine)
    assert await views(store) == set(VIEW_COLUMNS)
    rows = await query(store, "SELECT count(*) FROM request_timeline WHERE request_id = :r",
                       r=seeded.ids[0])
    assert rows == [(18,)]


async def test_timeline_names_hooks_and_module_calls_only_on_their_own_steps(
    store: Store,
) -> None:
    seeded = await seed(store, BASE)
    rows = await query(
        store,
        "SELECT stage, hook, module, method FROM request_timeline "
        "WHERE request_id = :r ORDER BY seq",
        r=seeded.ids[0],
    )
    # The received step's detail has an HTTP "method": it is not a module method.
    assert rows[0] == ("received", None, None, None)
    assert {r[1] for r in rows if r[0].startswith("hook_")} == {
        "authenticate", "timing_start", "timing_end", "audit"}
    assert all(r[1] is None for r in rows if not r[0].startswith("hook_"))
    assert [(r[2], r[3]) for r in rows if r[2]] == [("db", "insert_user"),
                                                   ("mail", "send_welcome")]


async def test_ms_since_start_is_exact_to_the_microsecond_and_ignores_arrival_order(
    store: Store,
) -> None:
    events = [
        LifecycleEvent("r", 2, "responded", AT_US + 1_234_567, handler_id="h", status=200),
        LifecycleEvent("r", 0, "received", AT_US + 999_999),
        LifecycleEvent("r", 1, "handler_start", AT_US + 1_000_000, handler_id="h"),
    ]
    await store.record([], events)
    rows = await query(store, "SELECT seq, ms_since_start FROM request_timeline "
                              "WHERE request_id = 'r' ORDER BY seq")
    assert rows == [(0, 0.0), (1, 0.001), (2, 234.568)]


async def test_effects_carry_results_and_errors_and_module_calls_say_ok(store: Store) -> None:
    seeded = await seed(store, BASE)
    rows = await query(
        store,
        "SELECT kind, module, method, result, error, attempts FROM effects "
        "WHERE request_id = :r ORDER BY seq",
        r=seeded.ids[2],
    )
    assert rows[0][0] == "clock"
    assert rows[1] == ("module", "db", "insert_user", None,
                       '{"type":"EmailTaken","message":"ada@example.com"}', 1)
    calls = await query(store, "SELECT request_id, ok FROM module_calls "
                               "WHERE method = 'insert_user' ORDER BY at")
    assert [ok for _, ok in calls] == [1, 1, 0, 1, 0]
    clock_reads = await query(store, "SELECT count(*) FROM module_calls WHERE module IS NULL")
    assert clock_reads == [(0,)]


async def test_percentiles_are_null_on_sqlite_but_averages_are_there(store: Store) -> None:
    await seed(store, BASE)
    rows = await query(store, "SELECT handler_id, count, avg_ms, p50_ms, p95_ms, max_ms "
                              "FROM slowest_handlers WHERE handler_id = :h", h=CREATE)
    assert rows == [(CREATE, 5, 10.48, None, None, 35.0)]


async def test_version_usage_buckets_by_utc_hour(store: Store) -> None:
    await seed(store, BASE)
    rows = await query(store, "SELECT hour, requests FROM version_usage "
                              "WHERE handler_id = :h AND version = :v ORDER BY hour",
                       h=CREATE, v=V1)
    assert rows == [("2025-06-15 12:00:00.000000", 1), ("2025-06-15 13:00:00.000000", 1)]
