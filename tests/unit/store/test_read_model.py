"""One read model of the record: ``Store.timelines`` feeds history and replay alike.

Replay builds its records from the same ``Timeline`` that ``gati history`` shows, loads a
batch in two queries per 500 ids, and takes the served version from
``requests.version`` (written when recorded), never from a step's JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gati.core.context import Services
from gati.core.envelopes import RequestEnvelope
from gati.core.pipeline import Pipeline
from gati.core.ports import SystemClock
from gati.replay.record import RecordedRequest, load
from gati.store import Store, open_store
from gati.store.tables import requests
from gati.store.timeline import TimelineStep
from tests.apps.timescape_app import app as greet_app

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(f"sqlite+aiosqlite:///{tmp_path}/r.db", migrate_first=True)
    try:
        yield s
    finally:
        await s.close()


async def _greet(store: Store, n: int, *, start_us: int | None = None) -> list[str]:
    pipeline = Pipeline(greet_app, Services(modules={}, config={}), clock=SystemClock())
    envs, events = [], []
    now = start_us or SystemClock().now_us()
    for i in range(n):
        env = RequestEnvelope(f"greet-{i:04d}", "gw", "t", 0, now + i, now + 5_000_000,
                              "POST", "/greet", "", (("content-type", "application/json"),),
                              b'{"name": "Ada"}', version_pref="v1")
        envs.append(env)
        events.extend((await pipeline.process(env)).events)
    await store.record(envs, events)
    return [e.request_id for e in envs]


async def test_a_batch_reads_as_each_one_does_in_two_queries_per_500(store: Store) -> None:
    ids = await _greet(store, 600)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    sa.event.listen(store.engine.sync_engine, "before_cursor_execute", count)
    try:
        batch = await store.timelines([*ids, "never-recorded"])
    finally:
        sa.event.remove(store.engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) == 4  # (rows, steps) for 500 ids, then for the other 101
    assert sorted(batch) == sorted(ids)
    assert batch[ids[7]] == await store.timeline(ids[7])


async def test_replay_and_history_read_the_same_steps(store: Store) -> None:
    rid = (await _greet(store, 1))[0]
    timeline = await store.timeline(rid)
    assert timeline is not None
    record = RecordedRequest.of(timeline)
    assert record is not None
    assert all(isinstance(s, TimelineStep) for s in record.steps)
    # One attempt: the same steps, a step without detail read as {} by replay.
    assert record.steps == tuple(replace(s, detail=s.detail or {}) for s in timeline.steps)
    assert record.envelope.body == timeline.body == b'{"name": "Ada"}'
    assert record.envelope.headers == timeline.headers
    assert record.response.status == timeline.status == 200


async def test_the_version_is_the_recorded_column_not_the_steps_json(store: Store) -> None:
    rid = (await _greet(store, 1))[0]
    async with store.engine.begin() as conn:
        await conn.execute(sa.update(requests).where(requests.c.request_id == rid)
                           .values(version="as-recorded"))
    timeline = await store.timeline(rid)
    assert timeline is not None and timeline.version == "as-recorded"
    routed = next(s for s in timeline.steps if s.stage == "routed")
    assert routed.detail["version"] == "2024-01-01"  # what the step says is not read
    assert (await load(store, [rid]))[rid].version == "as-recorded"


async def test_window_lists_answered_requests_oldest_first(store: Store) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = await _greet(store, 3, start_us=int(start.timestamp() * 1_000_000))
    assert await store.window(since=start) == ids
    assert await store.window(since=start, limit=2) == ids[:2]
    assert await store.window(since=start, handler="nope") == []
    assert await store.window(since=start + timedelta(days=1)) == []
