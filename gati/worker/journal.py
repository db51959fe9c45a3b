"""The effect journal: what a request did, durable before the handler sees each result.

Workers run at least once: a worker that dies after taking a request but before its
offset is committed leaves the request to be delivered again. The journal is what makes
that second delivery harmless. It is no new store: it is the lifecycle topic, which is
keyed by request id and partitioned like the requests topic, so a request's steps sit
in the lifecycle partition with the same number as its own.

- While a request runs, each journaled module call (``CallPolicy.journal``) writes the
  request's steps recorded so far to the lifecycle topic and waits for the broker's
  acknowledgement before the handler gets the call's result (``write``).
- When a worker is given a requests partition, the first request it takes there makes
  it read that lifecycle partition from shortly before the request was appended to the
  end (``prior``). Every step an earlier owner wrote about a request not yet committed
  is in that window, because it was written after the request was appended.
- A request found there with a ``responded`` step was answered: it is not run again.
  One with journaled effects and no answer is resumed: its effects are served from the
  journal, in order, and the rest runs live.

The exact guarantee, and its window (a call whose result is lost with its worker before
the journal write is acknowledged is made again), is in docs/operations.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace

from gati.codec.envelopes import EnvelopeCodec
from gati.codec.intake import LogHealth, until_the_log_takes
from gati.core.effects import JournalUnavailable
from gati.core.envelopes import LifecycleEvent, Stage
from gati.core.ports import EventLog, LogRecord
from gati.core.scope import RequestScope
from gati.errors import BackendUnavailable, CodecError
from gati.store.timeline import TimelineStep as Step
from gati.store.timeline import step_of

log = logging.getLogger(__name__)

# How far before a request's append time the journal is read: lifecycle timestamps come
# from workers' clocks, request timestamps from the broker's (or a gateway's).
LOOKBACK_MS = 10_000


@dataclass(frozen=True, slots=True)
class PriorRun:
    """Every step earlier attempts at one request left in the log, in seq order."""

    events: tuple[LifecycleEvent, ...]

    @classmethod
    def of(cls, events: Iterable[LifecycleEvent]) -> PriorRun:
        by_seq = {e.seq: e for e in events}
        return cls(tuple(by_seq[s] for s in sorted(by_seq)))

    @property
    def last_seq(self) -> int:
        return self.events[-1].seq

    @property
    def responded(self) -> LifecycleEvent | None:
        return next((e for e in self.events if e.stage == Stage.RESPONDED), None)

    @property
    def effects(self) -> list[Step]:
        """The effects of the latest attempt (the steps after its ``resumed`` step)."""
        return [_step(e) for e in self._latest() if e.stage == Stage.EFFECT]

    @property
    def pending(self) -> Step | None:
        """A call the latest attempt journaled as about to be made, with no outcome: its
        worker died in it, so it may or may not have happened."""
        latest = self._latest()
        calling = next((e for e in reversed(latest) if e.stage == Stage.CALLING), None)
        if calling is None or any(e.stage == Stage.EFFECT and e.seq > calling.seq for e in latest):
            return None
        return _step(calling)

    def _latest(self) -> list[LifecycleEvent]:
        start = max((e.seq for e in self.events if e.stage == Stage.RESUMED), default=-1)
        return [e for e in self.events if e.seq > start]

    @property
    def workers(self) -> list[str]:
        return sorted({e.worker_id for e in self.events if e.worker_id})


def _step(e: LifecycleEvent) -> Step:
    # Replay's ledger reads a detail as an object: an unreadable one is empty.
    return replace(step_of(e), detail=_detail(e.detail))


def _detail(text: str | None) -> dict[str, object]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class EffectJournal:
    """One worker's journal: writes a running request's steps, finds earlier attempts."""

    def __init__(self, log: EventLog, topic: str, codec: EnvelopeCodec, *,
                 lookback_ms: int = LOOKBACK_MS, health: LogHealth | None = None) -> None:
        self.log = log
        self.topic = topic
        self.codec = codec
        self.lookback_ms = lookback_ms
        self.health = health
        # Per requests partition, since it was assigned: request id -> steps found.
        self._views: dict[int, dict[str, list[LifecycleEvent]]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self.writes = 0

    async def write(self, scope: RequestScope, *, until_taken: bool = False) -> None:
        """Make every step of ``scope`` so far durable; raises JournalUnavailable, or
        with ``until_taken`` waits for the log."""
        events = scope.undurable()
        if not events:
            return
        value = self.codec.encode_batch(scope.request_id, events)
        key = scope.request_id.encode()

        async def send() -> None:
            await self.log.send(self.topic, value, key=key)

        try:
            if until_taken:
                await until_the_log_takes(send, f"journaling {scope.request_id}", self.health)
            else:
                await send()
        except BackendUnavailable as exc:
            raise JournalUnavailable(
                f"the effect journal could not be written, so the result of the call is "
                f"withheld: {exc.message}") from exc
        scope.durable_through = events[-1].seq
        self.writes += 1

    def partitions_assigned(self, partitions: set[int]) -> None:
        """Another worker may have run requests of these partitions since we last had
        them: read their journal afresh."""
        for p in partitions:
            self._views.pop(p, None)

    async def prior(self, rec: LogRecord, request_id: str) -> PriorRun | None:
        """What earlier attempts recorded of this request, or None if there were none.

        Raises:
            BackendUnavailable: the journal cannot be read now (the caller waits).
        """
        view = self._views.get(rec.partition)
        if view is None:
            lock = self._locks.setdefault(rec.partition, asyncio.Lock())
            async with lock:
                view = self._views.get(rec.partition)
                if view is None:
                    view = await self._load(rec.partition, rec.timestamp_ms - self.lookback_ms)
                    self._views[rec.partition] = view
        events = view.pop(request_id, None)
        return PriorRun.of(events) if events else None

    async def _load(self, partition: int, since_ms: int) -> dict[str, list[LifecycleEvent]]:
        records = await self.log.read_since(self.topic, partition, since_ms)
        view: dict[str, list[LifecycleEvent]] = {}
        for r in records:
            try:
                item = self.codec.decode_any(r.value)
            except CodecError:
                continue  # the recorder dead-letters it; it names no step of ours
            if isinstance(item, list):
                for ev in item:
                    view.setdefault(ev.request_id, []).append(ev)
        log.info("journal of %s[%d]: %d records since %d, %d requests", self.topic,
                 partition, len(records), since_ms, len(view))
        return view
