"""Idempotency claims and rate-limit windows on a real (SQLite) store: claims expire and
are pruned, a window reopens once it ends, and counting is exact."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from limits import parse

from gati.gateway.idempotency import IdempotencyKeys
from gati.gateway.ratelimit import SqlCounters
from gati.policy import Claim
from gati.store import Store, open_store

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(f"sqlite+aiosqlite:///{tmp_path}/g.db", migrate_first=True)
    yield s
    await s.close()


async def test_a_claim_holds_until_it_expires_then_is_pruned(store: Store) -> None:
    keys = IdempotencyKeys(store.engine, ttl_s=10)
    assert await keys.claim("scope", "fp", "r1", now_us=0) is None
    held = await keys.claim("scope", "fp", "r2", now_us=1_000_000)
    assert held == Claim("fp", "r1", expires_at_us=10_000_000)
    assert await keys.take_over("scope", held, "fp", "r2", now_us=11_000_000)
    assert not await keys.take_over("scope", held, "fp", "r3", now_us=11_000_000)  # lost
    assert await keys.prune(now_us=20_000_000) == 0
    assert await keys.prune(now_us=22_000_000) == 1
    assert await keys.claim("scope", "fp", "r4", now_us=22_000_000) is None
    assert await keys.answer("r4") is None  # nothing recorded for it


async def test_a_window_counts_exactly_and_reopens_when_it_ends(store: Store) -> None:
    now = [1000.0]
    counters = SqlCounters(store.engine, clock=lambda: now[0])
    item = parse("3/minute")
    key = item.key_for("route", "ip", "1.2.3.4")
    assert [await counters.incr(key, item.get_expiry()) for _ in range(4)] == [1, 2, 3, 4]
    assert await counters.get(key) == 4
    assert await counters.get_expiry(key) == 1060.0
    now[0] = 1060.0  # the window has ended: the next hit opens a new one
    assert await counters.get(key) == 0
    assert await counters.incr(key, item.get_expiry()) == 1
    assert await counters.get_expiry(key) == 1120.0
    now[0] = 2000.0
    assert await counters.prune() == 1
