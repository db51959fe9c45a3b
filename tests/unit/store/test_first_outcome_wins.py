"""One request id has one outcome: a second answer never overwrites the first.

A request delivered twice (its worker died before committing) could be answered twice
by old workers; the client got the first answer, so that is the one the row keeps. The
later ``responded`` step stays a lifecycle row: visible, never silent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gati.core.envelopes import LifecycleEvent, RequestEnvelope
from gati.store.store import Store, open_store

NOW = 1_760_000_000_000_000


def _answer(seq: int, status: int, code: str | None = None) -> LifecycleEvent:
    return LifecycleEvent("r1", seq, "responded", NOW + seq, handler_id="h", status=status,
                          error_code=code)


def _envelope() -> RequestEnvelope:
    return RequestEnvelope("r1", "g", "t.replies.g", 0, NOW, NOW + 10**7, "POST", "/users",
                           "", (), b"{}")


async def _check(store: Store) -> None:
    await store.record([_envelope()], [_answer(0, 201)])
    # Later batches: the same request answered again, and both answers in one batch.
    await store.record([], [_answer(1, 409, "email_taken")])
    await store.record([_envelope()], [_answer(2, 504, "deadline_exceeded"), _answer(3, 500)])
    row = await store.get_request("r1")
    assert row is not None and row["status"] == 201 and row["error_code"] is None
    assert [r.status for r in await store.lifecycle("r1")] == [201, 409, 504, 500]


async def test_first_outcome_wins_on_sqlite(tmp_path: Path) -> None:
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path}/g.db", migrate_first=True)
    try:
        await _check(store)
    finally:
        await store.close()


@pytest.mark.postgres
async def test_first_outcome_wins_on_postgres(fresh_pg_database: str) -> None:
    store = await open_store(fresh_pg_database, migrate_first=True)
    try:
        await _check(store)
    finally:
        await store.close()
