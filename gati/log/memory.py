"""The embedded log for ``gati dev`` and unit tests.

Same contract as Kafka where Gati relies on it: named topics with partitions, per-key
ordering (a key always lands on the same partition), consumer groups that resume from
their committed offsets, and group-less subscriptions that start at the end. It lives in
one process and keeps nothing across restarts.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from gati.core.ports import LogRecord, OutMessage, TopicSpec
from gati.errors import BackendUnavailable


@dataclass(slots=True)
class _Topic:
    partitions: list[list[LogRecord]]
    round_robin: int = 0


@dataclass(slots=True)
class MemoryLog:
    topics: dict[str, _Topic] = field(default_factory=dict)
    committed: dict[tuple[str, str, int], int] = field(default_factory=dict)
    auto_create_partitions: int = 1
    available: bool = True
    _changed: asyncio.Condition | None = None

    def _cond(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def ensure_topics(self, topics: Sequence[TopicSpec]) -> None:
        for spec in topics:
            if spec.name not in self.topics:
                self.topics[spec.name] = _Topic([[] for _ in range(spec.partitions)])

    def _topic(self, name: str) -> _Topic:
        if name not in self.topics:
            self.topics[name] = _Topic([[] for _ in range(self.auto_create_partitions)])
        return self.topics[name]

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None = None,
        partition: int | None = None, timeout_s: float | None = None,
    ) -> None:
        if not self.available:
            raise BackendUnavailable("the embedded log is stopped")
        t = self._topic(topic)
        n = len(t.partitions)
        if partition is None:
            if key is not None:
                partition = zlib.crc32(key) % n
            else:
                partition = t.round_robin % n
                t.round_robin += 1
        if not 0 <= partition < n:
            raise BackendUnavailable(f"{topic} has no partition {partition}")
        records = t.partitions[partition]
        # Stamped here, at append, whatever the topic's configs say: the embedded log
        # behaves as a LogAppendTime topic, which the requests topic must be (issue 11).
        records.append(
            LogRecord(topic, partition, len(records), key, value, int(time.time() * 1000))
        )
        cond = self._cond()
        async with cond:
            cond.notify_all()

    async def send_batch(self, messages: Sequence[OutMessage]) -> None:
        for m in messages:
            await self.send(m.topic, m.value, key=m.key, partition=m.partition)

    def subscribe(self, topics: Sequence[str], *, group: str | None,
                  bulk: bool = False) -> MemorySubscription:
        return MemorySubscription(self, tuple(topics), group)

    async def read_since(self, topic: str, partition: int, since_ms: int) -> list[LogRecord]:
        records = self._topic(topic).partitions[partition]
        return [r for r in records if r.timestamp_ms >= since_ms]

    def end_offsets(self, topic: str) -> list[int]:
        return [len(p) for p in self._topic(topic).partitions]


class MemorySubscription:
    def __init__(self, log: MemoryLog, topics: tuple[str, ...], group: str | None) -> None:
        self._log = log
        self._topics = topics
        self._group = group
        self._positions: dict[tuple[str, int], int] = {}

    async def start(self) -> None:
        for name in self._topics:
            for p, records in enumerate(self._log._topic(name).partitions):
                if self._group is None:
                    self._positions[(name, p)] = len(records)
                else:
                    self._positions[(name, p)] = self._log.committed.get((self._group, name, p), 0)

    def _take(self, max_records: int) -> list[LogRecord]:
        out: list[LogRecord] = []
        for (name, p), pos in self._positions.items():
            records = self._log.topics[name].partitions[p]
            if pos < len(records):
                chunk = records[pos : pos + max_records - len(out)]
                out.extend(chunk)
                self._positions[(name, p)] = pos + len(chunk)
            if len(out) >= max_records:
                break
        return out

    async def fetch(self, *, max_records: int, timeout_s: float) -> list[LogRecord]:
        out = self._take(max_records)
        if out or timeout_s <= 0:
            return out
        cond = self._log._cond()
        async with cond:
            try:
                await asyncio.wait_for(cond.wait_for(lambda: self._has_new()), timeout_s)
            except TimeoutError:
                return []
        return self._take(max_records)

    def _has_new(self) -> bool:
        return any(
            pos < len(self._log.topics[name].partitions[p])
            for (name, p), pos in self._positions.items()
        )

    async def commit(self) -> None:
        if self._group is None:
            return
        for (name, p), pos in self._positions.items():
            self._log.committed[(self._group, name, p)] = pos

    async def stop(self) -> None:
        return None
