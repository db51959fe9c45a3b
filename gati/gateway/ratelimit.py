"""Rate limits that hold across gateways: ``limits``' fixed window over a shared table.

The algorithm is ``limits.aio.strategies.FixedWindowRateLimiter``; what is ours is the
storage it counts in, ``SqlCounters``: the record's database, which every gateway
already reaches. One atomic upsert per hit (``INSERT ... ON CONFLICT DO UPDATE ...
RETURNING``) both opens an expired window and counts in a live one, so two gateways
never both admit the N+1st request (docs/decisions.md, "Rate limits across gateways").
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter
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
        now = self.clock()
        insert = self._dialect.insert(T).values(key=key, count=amount, expires_at=now + expiry)
        expired = T.c.expires_at <= now
        upsert = insert.on_conflict_do_update(index_elements=["key"], set_={
            "count": sa.case((expired, amount), else_=T.c.count + amount),
            "expires_at": sa.case((expired, now + expiry), else_=T.c.expires_at),
        }).returning(T.c.count)
        async with self._autocommit.connect() as conn:
            return int((await conn.execute(upsert)).scalar_one())

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


class RateLimits:
    """Counts each request against its route's ``rate_limit`` policy (the app's routes,
    latest version: the gateway does not resolve versions)."""

    def __init__(self, storage: SqlCounters, app: App) -> None:
        self.storage = storage
        self.app = app
        self.limiter = FixedWindowRateLimiter(storage)

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
        limited = await self._hit(env, route, limit)
        return None if limited is None else (route, limited)

    async def _hit(self, env: RequestEnvelope, route: str, limit: RateLimit) -> Limited | None:
        who = _counted(env, limit)
        ids = (route, limit.key, hashlib.sha256(who.encode()).hexdigest()[:32])
        if await self.limiter.hit(limit.item, *ids):
            return None
        stats = await self.limiter.get_window_stats(limit.item, *ids)
        reset_s = max(1, math.ceil(stats.reset_time - self.storage.clock()))
        policy = f'"{limit.key}";q={limit.limit};w={limit.window_s}'
        return Limited(reset_s, (
            (b"retry-after", str(reset_s).encode()),
            (b"ratelimit-policy", policy.encode()),
            (b"ratelimit", f'"{limit.key}";r={stats.remaining};t={reset_s}'.encode()),
        ), f"over this route's limit of {limit.text}; retry in {reset_s}s")


def _counted(env: RequestEnvelope, limit: RateLimit) -> str:
    """Who the limit counts: the principal (else the IP), the tenant, or the IP."""
    principal = env.auth.principal if env.auth is not None else None
    ip = (env.client or "").rpartition(":")[0] or "-"
    if limit.key == "tenant" and principal is not None and principal.tenant:
        return f"tenant:{principal.tenant}"
    if limit.key == "principal" and principal is not None:
        return f"principal:{principal.method}:{principal.subject}"
    return f"ip:{ip}"
