"""The recorder: the log of truth, projected into SQL, exactly once.

Per batch: fetch, decode, write in one database transaction, and only then commit the
log offsets. A crash anywhere before the commit replays the batch, which the store's
idempotent writes absorb. A database outage of any length stops the loop from committing
(the events wait in the log) and it retries with backoff until the database is back; the
store maps every driver error to ``StoreError`` (``gati.store.errors``), the one error
retried here. Meanwhile ``health`` says "degraded" and why (``gati.observability.health``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from gati.codec.bodies import BodyCodecs
from gati.codec.envelopes import EnvelopeCodec
from gati.codec.intake import DeadLetters
from gati.config import Settings
from gati.core.envelopes import LifecycleEvent, RequestEnvelope
from gati.core.ports import Clock, EventLog, LogRecord, Subscription, SystemClock, TopicSpec
from gati.errors import BackendUnavailable, CodecError, StoreError
from gati.observability.health import Health
from gati.store.schemas import body_schema_loader
from gati.store.store import Store
from gati.wiring import Role, Security, intake, topics

log = logging.getLogger(__name__)
T = TypeVar("T")
# A commit the broker keeps waiting longer than this marks Kafka degraded (it waits on).
KAFKA_PATIENCE_S = 10.0


@dataclass(slots=True)
class RecorderStats:
    batches: int = 0
    events: int = 0
    requests: int = 0
    dead_letters: int = 0
    store_retries: int = 0


class Recorder:
    def __init__(
        self,
        settings: Settings,
        event_log: EventLog,
        store: Store,
        *,
        codec: EnvelopeCodec | None = None,
        clock: Clock | None = None,
        security: Security | None = None,
        bodies: BodyCodecs | None = None,
        health: Health | None = None,
    ) -> None:
        """``security`` default: from the settings (``gati dev`` shares its own)."""
        self.settings = settings
        self.health = health or Health()
        self.log = event_log
        self.store = store
        self.codec = codec or EnvelopeCodec()
        self.clock = clock or SystemClock()
        self.stats = RecorderStats()
        # Typed bodies are stored as the JSON the client sent (gati.codec.bodies), and
        # sensitive values as keyed tokens (gati.core.redact.Masker).
        self.intake = intake(security or Security.from_settings(settings),
                             bodies or BodyCodecs(body_schema_loader(store.engine)), self.codec)
        self.dead_letters = DeadLetters(event_log, settings.deadletter_topic, "recorder",
                                        clock=self.clock, codec=self.codec, health=self.health)
        self.ready = asyncio.Event()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the batch in hand (written and committed), then return from ``run``."""
        self._stopping.set()

    def topics(self) -> list[TopicSpec]:
        return topics(self.settings, Role.RECORDER)

    async def run(self) -> None:
        """Record until cancelled."""
        s = self.settings
        await self.log.ensure_topics(self.topics())
        sub = self.log.subscribe([s.requests_topic, s.lifecycle_topic], group=s.recorder_group,
                                 bulk=True)
        await sub.start()
        self.ready.set()
        self.health.started()
        try:
            while not self._stopping.is_set():
                records = await self._fetch(sub)
                if not records:
                    continue
                await self._write(records)
                await self._commit(sub)
                self.stats.batches += 1
        finally:
            await sub.stop()

    async def _fetch(self, sub: Subscription) -> list[LogRecord]:
        """The next batch; a broker that fails the fetch is waited out (health says so)."""
        s = self.settings
        records: list[LogRecord] = []
        try:
            records = await sub.fetch(max_records=s.recorder_batch_size, timeout_s=0.5)
            if records and len(records) < s.recorder_batch_size and s.recorder_linger_s > 0:
                # Under load, a moment's wait fills the batch: fewer, larger commits.
                records += await sub.fetch(max_records=s.recorder_batch_size - len(records),
                                           timeout_s=s.recorder_linger_s)
        except BackendUnavailable as exc:
            # What the first fetch returned has moved the position: it must be written
            # before anything is committed, so it is kept, never dropped.
            self.health.degrade("kafka", exc.message)
            log.warning("fetch failed, retrying: %s", exc)
            if not records:
                await asyncio.sleep(1.0)
        return records

    async def _write(self, records: list[LogRecord]) -> None:
        envelopes: list[RequestEnvelope] = []
        events: list[LifecycleEvent] = []
        body_schemas: dict[str, int] = {}
        positions: dict[str, LogRecord] = {}
        for rec in records:
            try:
                item = self.intake.request_or_events(rec.value)
                if isinstance(item, RequestEnvelope) and item.body_schema is not None:
                    body_schemas[item.request_id] = item.body_schema
                    item = await self._json_body(item)
            except CodecError as exc:
                self.stats.dead_letters += 1
                await self.dead_letters.park(rec, str(exc))
                continue
            if isinstance(item, RequestEnvelope):
                envelopes.append(self.intake.for_record(item))
                positions.setdefault(item.request_id, rec)
            else:
                events.extend(item)
        await self._until_done("store write (offsets not committed)", lambda: self.store.record(
            envelopes, events, body_schemas=body_schemas, positions=positions))
        self.stats.events += len(events)
        self.stats.requests += len(envelopes)

    async def _json_body(self, env: RequestEnvelope) -> RequestEnvelope:
        """The typed body as JSON; waits out a schema store that does not answer.

        Raises:
            CodecError: the body cannot be decoded (the message is dead-lettered whole).
        """
        return await self._until_done("schema lookup", lambda: self.intake.json_body(env))

    async def _until_done(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """``call()`` again, with backoff, for as long as the database fails."""
        delay = 0.2
        while True:
            try:
                result = await call()
            except StoreError as exc:
                self.stats.store_retries += 1
                self.health.degrade("database", exc.message)
                log.warning("%s failed, retrying in %.1fs: %s", what, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            else:
                self.health.recover("database")
                return result

    async def _commit(self, sub: Subscription) -> None:
        """Commit the batch's offsets; while the broker keeps it waiting, say so in health.

        aiokafka's commit waits for the group coordinator rather than failing, so a
        broker outage shows here as a commit that does not return.
        """
        commit = asyncio.ensure_future(self._until_committed(sub))
        try:
            while not (await asyncio.wait({commit}, timeout=KAFKA_PATIENCE_S))[0]:
                self.health.degrade("kafka", "committing offsets has waited for the broker "
                                    f"for over {KAFKA_PATIENCE_S:.0f} s")
        finally:
            commit.cancel()  # only if this task is cancelled meanwhile; else a no-op
        commit.result()
        self.health.recover("kafka")

    async def _until_committed(self, sub: Subscription) -> None:
        delay = 0.2
        while True:
            try:
                return await sub.commit()
            except BackendUnavailable as exc:
                self.health.degrade("kafka", exc.message)
                log.warning("offset commit failed, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
