"""Idempotency keys where every gateway sees them: a table in the record's database.

The first gateway to insert a key's scope owns it for its request; the answer to every
repeat is that request's recorded response, read from the record (one copy of every
response, written by the recorder). So a key holds across gateways, and across a worker
that died during the first attempt: the request is resumed from its journal, answered
and recorded, and the next repeat gets that answer. Expired rows are pruned by every
gateway (``prune_every_s``); a claim whose request provably never ran is taken over.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gati.core.envelopes import RequestEnvelope
from gati.errors import StoreError
from gati.policy import Answer, Claim, Verdict, judge, scope_of
from gati.policy._idempotency import DEFAULT_TTL_S, HEADER, check_key, fingerprint
from gati.store.errors import map_store_errors
from gati.store.store import Store
from gati.store.tables import idempotency_keys as T

log = logging.getLogger(__name__)


def _ts(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1e6, UTC)


def _us(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000)


@dataclass(frozen=True, slots=True)
class Settled:
    """What a request with an Idempotency-Key gets before it is appended.

    ``scope`` set and nothing else: it owns the key and runs (release it if it cannot be
    appended). ``answer``: the recorded response of ``answered_by``, sent as is.
    ``status``: a refusal (400, 409, 422, 503) with its ``code`` and ``message``.
    """

    scope: str | None = None
    answer: Answer | None = None
    answered_by: str | None = None
    status: int | None = None
    code: str = ""
    message: str = ""


_MISMATCH = Settled(status=422, code="idempotency_key_reused", message=(
    "this Idempotency-Key was used with another request body; use a new key"))
_IN_FLIGHT = Settled(status=409, code="idempotency_in_flight", message=(
    "a request with this Idempotency-Key is still being processed; retry shortly"))


_CLAIM_COLUMNS = ("scope", "fingerprint", "request_id", "created_at", "expires_at")
_PG_CLAIM = (
    "INSERT INTO idempotency_keys (scope, fingerprint, request_id, created_at, expires_at) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], "
    "$5::timestamptz[]) ON CONFLICT (scope) DO NOTHING RETURNING scope")


def _connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the held connection broke (not that the statement failed)."""
    if isinstance(exc, sa.exc.DBAPIError):
        return bool(exc.connection_invalidated)
    if isinstance(exc, OSError):
        return True
    try:
        import asyncpg  # type: ignore[import-untyped]
    except ImportError:
        return False
    return isinstance(exc, asyncpg.InterfaceError | asyncpg.PostgresConnectionError)


class ClaimBatches:
    """Claims inserted many to a statement, on a connection of their own.

    Each new key costs the gateway one ``INSERT .. ON CONFLICT DO NOTHING``; claims that
    arrive while one is on its way go together in the next (``RETURNING`` says which
    rows were new). One statement at a time, on Postgres on one held connection: no
    pool checkout and no pre-ping round trip per request. Two claims of one scope never share a
    statement (the second waits for the next and finds the first's row), so a claim is
    as atomic as it was alone.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._pending: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._conn: AsyncConnection | None = None
        self._driver: Any = None  # the asyncpg connection under _conn
        self.statements = 0  # INSERTs made (the bench reads it)

    async def insert(self, row: dict[str, Any]) -> bool:
        """True: the row is new (its request owns the key); False: the scope is taken.

        Raises:
            StoreError: the database did not answer.
        """
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((row, done))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="gati-idempotency-claims")
        return await done

    def _next_batch(self) -> list[tuple[dict[str, Any], asyncio.Future[bool]]]:
        batch: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        later: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        scopes: set[str] = set()
        for item in self._pending:
            if item[1].done():  # its request was cancelled: nothing to claim
                continue
            (later if item[0]["scope"] in scopes else batch).append(item)
            scopes.add(item[0]["scope"])
        self._pending = later
        return batch

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch = self._next_batch()
                if not batch:
                    continue
                try:
                    new = await self._insert([row for row, _ in batch])
                except Exception as exc:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                for row, done in batch:
                    if not done.done():
                        done.set_result(row["scope"] in new)
        finally:
            self._flusher = None

    async def _insert(self, rows: list[dict[str, Any]]) -> set[str]:
        with map_store_errors("claiming an idempotency key"):
            for attempt in (1, 2):
                try:
                    self.statements += 1
                    if self._dialect is not postgresql:  # a file: no round trip to save
                        insert = sqlite.insert(T).values(rows).on_conflict_do_nothing(
                            index_elements=["scope"]).returning(T.c.scope)
                        async with self._autocommit.connect() as conn:
                            return {r.scope for r in await conn.execute(insert)}
                    if self._conn is None:
                        self._conn = await self._autocommit.connect()
                        self._driver = (await self._conn.get_raw_connection()).driver_connection
                    return await self._insert_pg(self._driver, rows)
                except Exception as exc:
                    await self._drop()
                    # A connection lost since the last batch: once more on a new one (a
                    # row the lost attempt did write is found by its request id).
                    if attempt == 2 or not _connection_lost(exc):
                        raise
        raise AssertionError("unreachable")

    @staticmethod
    async def _insert_pg(driver: Any, rows: list[dict[str, Any]]) -> set[str]:
        """One constant statement, prepared once by asyncpg, whatever the batch's size:
        the profile showed SQLAlchemy compiling a multi-row INSERT per request."""
        columns = [[row[c] for row in rows] for c in _CLAIM_COLUMNS]
        return {r["scope"] for r in await driver.fetch(_PG_CLAIM, *columns)}

    async def _drop(self) -> None:
        conn, self._conn, self._driver = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def close(self) -> None:
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher
        await self._drop()


# Steps that show a request began running (every attempt's steps are in the record).
_RAN = frozenset({"hook_start", "handler_start", "effect", "calling", "resumed"})


class IdempotencyKeys:
    """Claims, take-overs and answers of idempotency keys in the shared database."""

    def __init__(self, engine: AsyncEngine, *, ttl_s: float = DEFAULT_TTL_S,
                 prune_every_s: float = 600.0) -> None:
        self.engine = engine
        # The claim is one atomic statement: no BEGIN / COMMIT round trips around it.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.ttl_s = ttl_s
        self.prune_every_s = prune_every_s
        self._store = Store(engine)
        self._pruner: asyncio.Task[None] | None = None
        self._claims = ClaimBatches(engine)

    async def settle(self, env: RequestEnvelope, now_us: int) -> Settled | None:
        """None: no key. Otherwise whether ``env`` runs, is answered, or is refused."""
        key = env.header(HEADER)
        if key is None:
            return None
        problem = check_key(key)
        if problem is not None:
            return Settled(status=400, code="invalid_idempotency_key", message=problem)
        principal = env.auth.principal if env.auth is not None else None
        scope = scope_of(principal, env.method, env.path, key)
        fp = fingerprint(env.method, env.path, env.query, env.body)
        try:
            return await self._settle(scope, fp, env.request_id, now_us)
        except StoreError as exc:
            log.warning("idempotency keys unavailable: %s", exc)
            return Settled(status=503, code="idempotency_unavailable", message=(
                "the idempotency key could not be checked (database unavailable); retry"))

    async def _settle(self, scope: str, fp: str, request_id: str, now_us: int) -> Settled:
        for _ in range(3):  # each round loses only to a take-over by another request
            held = await self.claim(scope, fp, request_id, now_us)
            if held is None:
                return Settled(scope=scope)
            answer = None
            if held.fingerprint == fp and held.expires_at_us > now_us:
                answer = await self.answer(held.request_id)
            verdict = judge(held, fp, now_us, answer)
            if verdict is Verdict.REPLAY:
                return Settled(answer=answer, answered_by=held.request_id)
            if verdict is Verdict.MISMATCH:
                return _MISMATCH
            if verdict is Verdict.IN_FLIGHT:
                return _IN_FLIGHT
            if await self.take_over(scope, held, fp, request_id, now_us):
                return Settled(scope=scope)
        return _IN_FLIGHT

    async def claim(self, scope: str, fingerprint: str, request_id: str,
                    now_us: int) -> Claim | None:
        """None: ``request_id`` now owns the key. Otherwise the claim that holds it.

        Raises:
            StoreError: the database did not answer.
        """
        row = {"scope": scope, "fingerprint": fingerprint, "request_id": request_id,
               "created_at": _ts(now_us),
               "expires_at": _ts(now_us) + timedelta(seconds=self.ttl_s)}
        if await self._claims.insert(row):
            return None
        with map_store_errors("reading an idempotency key"):
            async with self._autocommit.connect() as conn:
                got = (await conn.execute(sa.select(T.c.fingerprint, T.c.request_id,
                                                    T.c.expires_at)
                                          .where(T.c.scope == scope))).first()
        if got is None:  # pruned or released in between: claim it again
            return await self.claim(scope, fingerprint, request_id, now_us)
        if got.request_id == request_id:  # ours: a batch retried after a lost reply
            return None
        return Claim(got.fingerprint, got.request_id, _us(got.expires_at))

    async def take_over(self, scope: str, held: Claim, fingerprint: str, request_id: str,
                        now_us: int) -> bool:
        """Move the key from ``held`` to ``request_id``; False if another got there first."""
        with map_store_errors("taking over an idempotency key"):
            async with self.engine.begin() as conn:
                done = await conn.execute(
                    sa.update(T).where(T.c.scope == scope,
                                       T.c.request_id == held.request_id)
                    .values(fingerprint=fingerprint, request_id=request_id,
                            created_at=_ts(now_us),
                            expires_at=_ts(now_us) + timedelta(seconds=self.ttl_s)))
                return bool(done.rowcount == 1)

    async def release(self, scope: str, request_id: str) -> None:
        """Free a key whose request will not run (its append failed)."""
        # Best effort: a key left behind is taken over once its request is recorded
        # as not run, or when it expires.
        with contextlib.suppress(Exception), map_store_errors("releasing a key"):
            async with self.engine.begin() as conn:
                await conn.execute(sa.delete(T).where(T.c.scope == scope,
                                                      T.c.request_id == request_id))

    async def answer(self, request_id: str) -> Answer | None:
        """The recorded response of ``request_id``; None while it is not recorded."""
        timeline = await self._store.timeline(request_id)
        if timeline is None:
            return None
        responded = next((s for s in reversed(timeline.steps) if s.stage == "responded"), None)
        if responded is None or responded.status is None or not isinstance(
                responded.detail, dict):
            return None
        headers = tuple((str(k), str(v)) for k, v in responded.detail.get("headers", []))
        body = base64.b64decode(responded.detail.get("body_b64", ""))
        ran = any(s.stage in _RAN for s in timeline.steps)
        return Answer(responded.status, headers, body, responded.error_code, ran)

    async def prune(self, now_us: int) -> int:
        with map_store_errors("pruning idempotency keys"):
            async with self.engine.begin() as conn:
                done = await conn.execute(sa.delete(T).where(T.c.expires_at < _ts(now_us)))
                return int(done.rowcount or 0)

    def start_pruning(self, now_us: Callable[[], int],
                      also: tuple[Callable[[], Awaitable[int]], ...] = ()) -> None:
        """Prune expired keys (and whatever ``also`` prunes) every ``prune_every_s``."""
        async def loop() -> None:
            while True:
                try:
                    pruned = await self.prune(now_us())
                    for more in also:
                        pruned += await more()
                    if pruned:
                        log.info("pruned %d expired idempotency keys and windows", pruned)
                except Exception as exc:  # the next round tries again
                    log.warning("pruning idempotency keys failed: %r", exc)
                await asyncio.sleep(self.prune_every_s)

        if self._pruner is None:
            self._pruner = asyncio.create_task(loop(), name="gati-idempotency-prune")

    async def close(self) -> None:
        await self._claims.close()
        if self._pruner is not None:
            self._pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruner
            self._pruner = None
