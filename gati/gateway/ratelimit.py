"""Rate limits that hold across gateways: a fixed window over a shared table, leased.

The window and its keys are ``limits``' (``RateLimitItem``, ``key_for``, the fixed
window's counter); what is ours is the storage it counts in, ``SqlCounters``: the
record's database, which every gateway already reaches. One atomic upsert (``INSERT ...
ON CONFLICT DO UPDATE ... RETURNING``) both opens an expired window and counts in a
live one.

A gateway does not count every hit there: it leases ``lease_size(limit)`` hits at a time
(one upsert adding that many) and admits from its lease locally until it is spent or the
window ends. It keeps only what the counter granted (``limit`` minus the count before its
lease), so all gateways together never admit more than the limit in a window; what a
lease costs is the other way round: hits leased by one gateway and not used are
unavailable to the others, at most ``lease_size - 1`` per gateway (1 for limits under
100, so small limits stay exact). A spent window is remembered until it ends: refusals
cost no statement at all (docs/decisions.md, "Rate limits: leased from the counter").
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from limits.aio.storage import Storage
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from gati.core.app import App
from gati.core.envelopes import RequestEnvelope
from gati.errors import GatiError
from gati.policy import RateLimit
from gati.store.tables import rate_limits as T


class SqlCounters(Storage):
    """A ``limits`` storage over the ``rate_limits`` table (Postgres or SQLite)."""

    STORAGE_SCHEME = None

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.engine = engine
        # One statement, one round trip: the upsert is atomic on its own, so no
        # BEGIN / COMMIT around it (two more round trips per request at the gateway).
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.clock = clock
        self._dialect = postgresql if engine.dialect.name == "postgresql" else sqlite

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return (sa.exc.SQLAlchemyError, OSError)

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return (await self.lease(key, expiry, amount))[0]

    async def lease(self, key: str, expiry: int, amount: int) -> tuple[int, float]:
        """Add ``amount`` to the key's live window (or open one): (count, window's end)."""
        now = self.clock()
        insert = self._dialect.insert(T).values(key=key, count=amount, expires_at=now + expiry)
        expired = T.c.expires_at <= now
        upsert = insert.on_conflict_do_update(index_elements=["key"], set_={
            "count": sa.case((expired, amount), else_=T.c.count + amount),
            "expires_at": sa.case((expired, now + expiry), else_=T.c.expires_at),
        }).returning(T.c.count, T.c.expires_at)
        async with self._autocommit.connect() as conn:
            count, ends = (await conn.execute(upsert)).one()
        return int(count), float(ends)

    async def get(self, key: str) -> int:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(T.c.count, T.c.expires_at)
                                      .where(T.c.key == key))).first()
        if row is None:
            return 0
        count, expires_at = row
        return 0 if expires_at <= self.clock() else int(count)

    async def get_expiry(self, key: str) -> float:
        async with self.engine.connect() as conn:
            value = (await conn.execute(sa.select(T.c.expires_at)
                                        .where(T.c.key == key))).scalar()
        now = self.clock()
        return float(value) if value is not None and value > now else now

    async def check(self) -> bool:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
        return True

    async def reset(self) -> int | None:
        async with self.engine.begin() as conn:
            return int((await conn.execute(sa.delete(T))).rowcount or 0)

    async def clear(self, key: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(T).where(T.c.key == key))

    async def prune(self) -> int:
        """Drop windows that have ended (a later hit opens a new one anyway)."""
        async with self.engine.begin() as conn:
            done = await conn.execute(sa.delete(T).where(T.c.expires_at <= self.clock()))
            return int(done.rowcount or 0)


@dataclass(frozen=True, slots=True)
class Limited:
    """A request over its route's limit: 429 with these headers."""

    retry_after_s: int
    headers: tuple[tuple[bytes, bytes], ...]
    message: str


# Leases: at most this many hits at a time, and at most 1/LEASE_SHARE of the limit, so
# what one gateway may hold unused is under 2% of the limit (none under 100).
MAX_LEASE = 50
LEASE_SHARE = 50
# Leases kept in memory before those of ended windows are dropped.
SWEEP_AT = 10_000


def lease_size(limit: int) -> int:
    """How many hits a gateway takes from the shared counter at once."""
    return max(1, min(MAX_LEASE, limit // LEASE_SHARE))


@dataclass(slots=True)
class _Lease:
    """Hits this gateway may still admit in the window ending at ``ends`` (epoch s);
    ``full``: the shared counter had reached the limit, so nobody admits more in it."""

    left: int
    ends: float
    full: bool


class RateLimits:
    """Counts each request against its route's ``rate_limit`` policy (the app's routes,
    latest version: the gateway does not resolve versions)."""

    def __init__(self, storage: SqlCounters, app: App) -> None:
        self.storage = storage
        self.app = app
        self._leases: dict[str, _Lease] = {}
        # One lease statement per key at a time: concurrent hits wait for its grant.
        self._leasing: dict[str, asyncio.Future[None]] = {}
        self._sweep_at = SWEEP_AT
        self.statements = 0  # lease upserts made (the bench and tests read it)

    def limit_of(self, method: str, path: str) -> tuple[str, RateLimit] | None:
        try:
            family = self.app.router.match(method, path).route.target
        except GatiError:
            return None  # 404 / 405: the worker answers those
        limit = family.latest.target.policy.rate_limit
        return None if limit is None else (family.handler_id, limit)

    async def check(self, env: RequestEnvelope) -> tuple[str, Limited] | None:
        """None: admitted (and counted), or the route has no limit.

        Raises:
            Exception: what the database raises (the caller admits: fail open).
        """
        found = self.limit_of(env.method, env.path)
        if found is None:
            return None
        route, limit = found
        who = _counted(env, limit)
        key = limit.item.key_for(route, limit.key, hashlib.sha256(who.encode()).hexdigest()[:32])
        lease = await self._lease_for(key, limit)
        if lease.left > 0:
            lease.left -= 1
            return None
        return route, self._limited(limit, lease)

    async def _lease_for(self, key: str, limit: RateLimit) -> _Lease:
        """The key's live lease (possibly spent: then the window is full)."""
        while True:
            lease = self._leases.get(key)
            if lease is not None and lease.ends > self.storage.clock() and (
                    lease.left > 0 or lease.full):
                return lease
            pending = self._leasing.get(key)
            if pending is None:
                break
            await asyncio.shield(pending)  # another hit is leasing: use its grant
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._leasing[key] = done
        try:
            take = lease_size(limit.limit)
            self.statements += 1
            count, ends = await self.storage.lease(key, limit.window_s, take)
            # Only what fits under the limit is ours: the count before this lease was
            # count - take; the rest of the lease is over the limit and never admitted.
            granted = max(0, min(take, limit.limit - (count - take)))
            lease = _Lease(granted, ends, count >= limit.limit)
            self._leases[key] = lease
            if len(self._leases) > self._sweep_at:
                self.forget_ended()
                self._sweep_at = max(SWEEP_AT, 2 * len(self._leases))
            return lease
        finally:
            del self._leasing[key]
            done.set_result(None)

    def _limited(self, limit: RateLimit, lease: _Lease) -> Limited:
        reset_s = max(1, math.ceil(lease.ends - self.storage.clock()))
        policy = f'"{limit.key}";q={limit.limit};w={limit.window_s}'
        return Limited(reset_s, (
            (b"retry-after", str(reset_s).encode()),
            (b"ratelimit-policy", policy.encode()),
            (b"ratelimit", f'"{limit.key}";r=0;t={reset_s}'.encode()),
        ), f"over this route's limit of {limit.text}; retry in {reset_s}s")

    def forget_ended(self) -> None:
        """Drop leases of windows that have ended: memory stays bounded by live keys."""
        now = self.storage.clock()
        for key in [k for k, v in self._leases.items() if v.ends <= now]:
            del self._leases[key]


def _counted(env: RequestEnvelope, limit: RateLimit) -> str:
    """Who the limit counts: the principal (else the IP), the tenant, or the IP."""
    principal = env.auth.principal if env.auth is not None else None
    ip = (env.client or "").rpartition(":")[0] or "-"
    if limit.key == "tenant" and principal is not None and principal.tenant:
        return f"tenant:{principal.tenant}"
    if limit.key == "principal" and principal is not None:
        return f"principal:{principal.method}:{principal.subject}"
    return f"ip:{ip}"
