"""Store.timeline and Store.prune on SQLite: what `gati history` shows and deletes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from _history_seed import CREATE, V1, V2, build, seed

from gati.core.envelopes import LifecycleEvent, RequestEnvelope
from gati.store import Store

MakeEnvelope = Callable[..., RequestEnvelope]
NOW = datetime(2025, 6, 15, 12, tzinfo=UTC)
OLD = NOW - timedelta(days=40)
RECENT = NOW - timedelta(hours=2)
CUTOFF = NOW - timedelta(days=30)


def us(t: datetime) -> int:
    return int(t.timestamp()) * 1_000_000 + t.microsecond


async def counts(store: Store) -> tuple[int, int]:
    async with store.engine.connect() as conn:
        requests = (await conn.execute(sa.text("SELECT count(*) FROM requests"))).scalar_one()
        events = (await conn.execute(sa.text("SELECT count(*) FROM lifecycle_events"))
                  ).scalar_one()
    return int(requests), int(events)


def events_of(base: datetime) -> int:
    reqs, _ = build(base)
    return sum(len(r.events) for r in reqs)


# timeline


async def test_timeline_of_an_unknown_request_is_none(store: Store) -> None:
    assert await store.timeline("01980000-0000-7000-8000-000000000000") is None


async def test_timeline_joins_the_envelope_the_outcome_and_the_steps(store: Store) -> None:
    seeded = await seed(store, RECENT)
    tl = await store.timeline(seeded.ids[0])
    assert tl is not None
    assert (tl.method, tl.path, tl.status, tl.error_code) == ("POST", "/users", 201, None)
    assert (tl.handler_id, tl.version, tl.gateway_id, tl.client) == (
        CREATE, V1, "gw-1", "10.0.0.7")
    assert tl.answered and tl.recorded_envelope
    assert tl.received_at == RECENT
    assert tl.duration_ms == 10.9
    assert [s.seq for s in tl.steps] == list(range(18))
    assert tl.steps[0].ms_since_start == 0.0 and tl.steps[-1].ms_since_start == 10.4
    insert = tl.steps[8]
    assert insert.detail["method"] == "insert_user"  # parsed JSON
    assert insert.detail["result"]["id"] == 1


async def test_timeline_of_a_request_whose_envelope_is_not_recorded_yet(store: Store) -> None:
    reqs, _ = build(RECENT)
    r = reqs[5]  # 401 from the authenticate hook
    await store.record([], r.events)
    tl = await store.timeline(r.request_id)
    assert tl is not None
    assert not tl.recorded_envelope
    assert (tl.method, tl.path, tl.gateway_id) == ("POST", "/users", "gw-1")  # from steps
    assert (tl.status, tl.error_code, tl.version) == (401, "unauthorized", V2)
    assert tl.duration_ms == 1.4  # first step to last


async def test_timeline_of_a_request_with_no_steps_and_no_answer(
    store: Store, make_envelope: MakeEnvelope
) -> None:
    env = make_envelope(method="DELETE", path="/users/3")
    await store.record([env], [])
    tl = await store.timeline(env.request_id)
    assert tl is not None
    assert tl.steps == () and not tl.answered and tl.duration_ms is None
    assert (tl.method, tl.path) == ("DELETE", "/users/3")


async def test_a_detail_that_is_not_json_is_kept_as_text(store: Store) -> None:
    await store.record([], [LifecycleEvent("r", 0, "received", us(NOW), detail="not json")])
    tl = await store.timeline("r")
    assert tl is not None and tl.steps[0].detail == "not json"


# prune


async def test_prune_deletes_whole_old_requests_and_keeps_recent_ones(store: Store) -> None:
    old = await seed(store, OLD)
    recent = await seed(store, RECENT)

    result = await store.prune(CUTOFF)

    assert (result.requests, result.lifecycle_events) == (10, events_of(OLD))
    assert not result.dry_run and result.before == CUTOFF
    assert await counts(store) == (10, events_of(RECENT))
    assert all([await store.timeline(i) is None for i in old.ids])
    assert all([await store.timeline(i) is not None for i in recent.ids])


async def test_prune_works_in_batches(store: Store) -> None:
    await seed(store, OLD)
    result = await store.prune(CUTOFF, batch_size=3)
    assert (result.requests, result.lifecycle_events) == (10, events_of(OLD))
    assert result.batches == 4  # 3 + 3 + 3 + 1
    assert await counts(store) == (0, 0)


async def test_a_dry_run_counts_the_same_and_deletes_nothing(store: Store) -> None:
    await seed(store, OLD)
    await seed(store, RECENT)
    before = await counts(store)

    dry = await store.prune(CUTOFF, dry_run=True)

    assert dry.dry_run
    assert (dry.requests, dry.lifecycle_events) == (10, events_of(OLD))
    assert await counts(store) == before
    real = await store.prune(CUTOFF)
    assert (real.requests, real.lifecycle_events) == (dry.requests, dry.lifecycle_events)


async def test_prune_ages_rows_without_an_envelope_and_events_without_a_row(
    store: Store,
) -> None:
    old, new = us(OLD), us(RECENT)
    await store.record([], [
        # answered long ago, envelope never recorded: the row has only completed_at
        LifecycleEvent("outcome-only", 0, "received", old),
        LifecycleEvent("outcome-only", 1, "responded", old + 5, status=200),
        # events only, all old
        LifecycleEvent("orphan", 0, "received", old),
        LifecycleEvent("orphan", 1, "routed", old + 1),
        # events only, straddling the cutoff: kept whole
        LifecycleEvent("straddles", 0, "received", old),
        LifecycleEvent("straddles", 1, "routed", new),
        # events only, recent
        LifecycleEvent("fresh", 0, "received", new),
    ])

    result = await store.prune(CUTOFF)

    assert (result.requests, result.lifecycle_events) == (1, 4)
    assert await store.timeline("outcome-only") is None
    assert await store.timeline("orphan") is None
    kept = await store.timeline("straddles")
    assert kept is not None and len(kept.steps) == 2
    assert await store.timeline("fresh") is not None


async def test_prune_with_nothing_to_do(store: Store) -> None:
    await seed(store, RECENT)
    result = await store.prune(CUTOFF)
    assert (result.requests, result.lifecycle_events, result.batches) == (0, 0, 0)


async def test_prune_refuses_naive_times_and_empty_batches(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone"):
        await store.prune(datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="batch_size"):
        await store.prune(CUTOFF, batch_size=0)
