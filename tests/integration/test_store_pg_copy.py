"""Lifecycle rows reach Postgres by COPY with the guarantees of the INSERT they replace:
idempotent per (request_id, seq), first write wins, all or nothing per batch."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gati.core.envelopes import LifecycleEvent, RequestEnvelope
from gati.errors import StoreError
from gati.store import Store, open_store

pytestmark = pytest.mark.timeout(60)


def _env(rid: str) -> RequestEnvelope:
    return RequestEnvelope(rid, "gw", "t", 0, 1_750_000_000_000_000, 1_750_000_030_000_000,
                           "POST", "/users", "", (("content-type", "application/json"),),
                           b'{"name": "Ada"}')


def _events(rid: str, detail: str, n: int = 4) -> list[LifecycleEvent]:
    stages = ["received", "routed", "handler_end", "responded"]
    return [LifecycleEvent(rid, i, stages[i], 1_750_000_000_000_000 + i, "users.create",
                           201 if stages[i] == "responded" else None, None, detail, "w1")
            for i in range(n)]


async def _rows(store: Store, rid: str) -> list[tuple[int, str, str]]:
    async with store.engine.connect() as conn:
        result = await conn.execute(sa.text(
            "SELECT seq, stage, detail FROM lifecycle_events WHERE request_id = :r ORDER BY seq"
        ), {"r": rid})
        return [(int(r[0]), str(r[1]), str(r[2])) for r in result]


async def test_copy_keeps_the_first_write_and_writes_event_only_batches(
    fresh_pg_database: str,
) -> None:
    store = await open_store(fresh_pg_database, migrate_first=True)
    try:
        assert store._copy  # the path under test
        await store.record([_env("a")], _events("a", '{"try": 1}'))
        # A redelivered batch (at-least-once) with different details changes nothing.
        await store.record([_env("a")], _events("a", '{"try": 2}'))
        assert [r[2] for r in await _rows(store, "a")] == ['{"try": 1}'] * 4
        # Steps that arrive before their request's envelope, in a batch of their own.
        await store.record([], _events("b", '{"only": "events"}', n=3))
        assert [r[1] for r in await _rows(store, "b")] == ["received", "routed", "handler_end"]
        # A batch that fails leaves nothing behind, staged or merged.
        broken = [*_events("c", "{}"), LifecycleEvent("c", 9, None, 1)]  # type: ignore[arg-type]
        with pytest.raises(StoreError, match="null value"):
            await store.record([_env("c")], broken)
        assert await _rows(store, "c") == [] and await store.get_request("c") is None
        await store.record([], _events("c", '{"second": "chance"}', n=2))
        assert [r[0] for r in await _rows(store, "c")] == [0, 1]
        row = await store.get_request("a")
        assert row is not None and row["status"] == 201
    finally:
        await store.close()
