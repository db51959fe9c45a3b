"""What the gateway's shared state costs, and that leasing and batching keep its promises.

Two ``RateLimits`` over one SQLite store stand for two gateways: together they admit no
more than the limit in a window, and they fall short of it by at most what one of them
leased and did not use (``lease_size - 1``). Claims made at once go to the database in
fewer statements than requests, and of 50 with one scope exactly one wins.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gati import App, GlobalContext, LocalContext, Request, Response
from gati.core.envelopes import RequestEnvelope
from gati.gateway.idempotency import IdempotencyKeys
from gati.gateway.ratelimit import RateLimits, SqlCounters, lease_size
from gati.policy import AuthOutcome, Principal
from gati.store import Store, open_store

pytestmark = pytest.mark.timeout(60)
LIMIT = 1000


def _app() -> App:
    app = App("limited")

    @app.get("/limited", rate_limit=f"{LIMIT}/minute")
    async def limited(req: Request, res: Response, lctx: LocalContext,
                      gctx: GlobalContext) -> None:
        res.json({})

    return app


def _env(n: int, subject: str = "ann") -> RequestEnvelope:
    return RequestEnvelope(
        request_id=f"r{n}", gateway_id="gw", reply_topic="t", reply_partition=0,
        received_at_us=0, deadline_at_us=10**12, method="GET", path="/limited", query="",
        headers=(), body=b"", client="10.0.0.1:5000",
        auth=AuthOutcome(Principal(subject, "api_key")))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(f"sqlite+aiosqlite:///{tmp_path}/g.db", migrate_first=True)
    yield s
    await s.close()


async def test_two_gateways_admit_the_limit_and_no_more(store: Store) -> None:
    now = [1000.0]
    app = _app()
    a, b = (RateLimits(SqlCounters(store.engine, clock=lambda: now[0]), app)
            for _ in range(2))
    got = [await (a, b)[i % 2].check(_env(i)) is None for i in range(LIMIT + 500)]
    assert got == [True] * LIMIT + [False] * 500  # the first N, whichever gateway
    lease = lease_size(LIMIT)
    assert lease == 20
    # One statement per lease, and none for refusals once the window is full.
    assert a.statements + b.statements <= LIMIT // lease + 2
    now[0] += 60  # the next window
    assert await b.check(_env(0)) is None


async def test_what_one_gateway_leased_and_did_not_use_is_the_tolerance(
    store: Store,
) -> None:
    app = _app()
    a, b = (RateLimits(SqlCounters(store.engine, clock=lambda: 1000.0), app)
            for _ in range(2))
    assert await a.check(_env(0)) is None  # a leases 20 and uses one
    admitted_b = sum([await b.check(_env(i)) is None for i in range(LIMIT)])
    lease = lease_size(LIMIT)
    assert admitted_b == LIMIT - lease  # a still holds lease - 1 of them
    over = await b.check(_env(LIMIT))
    assert over is not None
    _, limited = over
    assert dict(limited.headers)[b"ratelimit"].startswith(b'"principal";r=0;t=')
    assert 1 <= limited.retry_after_s <= 60
    # Whoever holds the rest admits it: together exactly the limit.
    assert sum([await a.check(_env(i)) is None for i in range(lease)]) == lease - 1


async def test_small_limits_are_exact_and_principals_are_apart(store: Store) -> None:
    assert lease_size(10) == lease_size(99) == 1 and lease_size(100) == 2
    app = _app()
    a = RateLimits(SqlCounters(store.engine, clock=lambda: 1000.0), app)
    admitted = await asyncio.gather(*(a.check(_env(i)) for i in range(LIMIT + 10)))
    assert sum(x is None for x in admitted) == LIMIT  # concurrent hits share leases
    assert await a.check(_env(0, subject="bob")) is None


async def test_concurrent_claims_share_statements_and_one_scope_has_one_owner(
    store: Store,
) -> None:
    keys = IdempotencyKeys(store.engine, ttl_s=60)
    try:
        owners = await asyncio.gather(*(keys.claim("same", "fp", f"r{i}", now_us=0)
                                        for i in range(50)))
        assert sum(o is None for o in owners) == 1
        winner = next(f"r{i}" for i, o in enumerate(owners) if o is None)
        assert {o.request_id for o in owners if o is not None} == {winner}
        before = keys._claims.statements
        distinct = await asyncio.gather(*(keys.claim(f"s{i}", "fp", f"q{i}", now_us=0)
                                          for i in range(50)))
        assert distinct == [None] * 50
        assert keys._claims.statements - before < 50
    finally:
        await keys.close()


async def test_a_verified_token_is_remembered_until_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import jwt

    import gati.gateway.auth as auth
    from gati.policy import AuthConfig, JWTConfig

    secret = "s" * 40
    config = AuthConfig.of(jwt=JWTConfig(algorithms=("HS256",), secret=secret, leeway_s=0))
    now = [1_000_000.0]
    authenticator = auth.Authenticator(config, wall=lambda: now[0])
    verified: list[str] = []
    real = auth.verify_until

    def counting(token: str, *args: Any) -> Any:
        verified.append(token)
        return real(token, *args)

    token = jwt.encode({"sub": "ann", "exp": int(now[0]) + 30}, secret, algorithm="HS256")
    forged = jwt.encode({"sub": "ann", "exp": int(now[0]) + 90}, "x" * 40, algorithm="HS256")
    monkeypatch.setattr(auth, "verify_until", counting)
    monkeypatch.setattr(jwt.api_jwt, "datetime", _FrozenDatetime(now))
    headers = [("authorization", f"Bearer {token}")]
    first = await authenticator.authenticate(headers)
    assert first is not None and first.principal is not None
    assert await authenticator.authenticate(headers) == first
    assert len(verified) == 1  # the second request was not verified again
    now[0] += 31  # past exp: verified again, and refused
    late = await authenticator.authenticate(headers)
    assert late is not None and late.error == "token_expired"
    assert len(verified) == 2
    for _ in range(2):  # refusals are not remembered
        bad = await authenticator.authenticate([("authorization", f"Bearer {forged}")])
        assert bad is not None and bad.error == "invalid_token"
    assert len(verified) == 4


class _FrozenDatetime:
    """PyJWT's clock (``datetime.now(tz=...)``) reading the test's ``now``."""

    def __init__(self, now: list[float]) -> None:
        self._now = now

    def now(self, tz: object = None) -> object:
        from datetime import UTC, datetime

        return datetime.fromtimestamp(self._now[0], UTC)

    def __getattr__(self, name: str) -> object:
        from datetime import datetime

        return getattr(datetime, name)


async def test_the_fixed_window_edge_admits_up_to_twice_the_limit_across_a_boundary(
    store: Store,
) -> None:
    """docs/policies.md, "How exact a rate limit is": at most N in each window, but a
    window opens at the first hit after the last one ended, so N at the end of one and N
    at the start of the next pass within a second; never more than 2N in a window's
    length, since such an interval meets at most two windows."""
    now = [1000.0]
    app = _app()
    limits = RateLimits(SqlCounters(store.engine, clock=lambda: now[0]), app)
    assert await limits.check(_env(0)) is None  # opens the window [1000, 1060)
    now[0] = 1059.5
    late = [await limits.check(_env(i)) is None for i in range(LIMIT)]
    assert sum(late) == LIMIT - 1  # the window's N, all but one in its last half second
    now[0] = 1060.0  # a new window
    early = [await limits.check(_env(i)) is None for i in range(LIMIT + 1)]
    assert sum(early) == LIMIT
    assert sum(late) + sum(early) == 2 * LIMIT - 1  # within 0.5 s of each other
    now[0] = 1119.0  # still the second window: nothing more until 1120
    assert await limits.check(_env(0)) is not None
