"""Ports the core and the role packages depend on; adapters implement them.

Each has an in-memory implementation (``gati.log.memory``, ``SystemClock`` for tests
with a fixed clock) so the pipeline can be exercised without a broker or database.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def now_us(self) -> int:
        """Wall-clock time as Unix epoch microseconds."""
        ...


class SystemClock:
    def now_us(self) -> int:
        return time.time_ns() // 1000


# Kafka's topic setting that makes each record's timestamp the broker's append time.
APPEND_TIME_CONFIG = ("message.timestamp.type", "LogAppendTime")


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int = 1
    # Topics are never compacted or short-lived by default: they are the log of truth.
    retention_ms: int | None = None
    # Further topic settings, as Kafka names them; pairs so the spec stays immutable.
    configs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def for_requests(cls, name: str, partitions: int) -> TopicSpec:
        """The requests topic, declared the same by every process that creates it.

        Its records carry the broker's append time, not the producer's: a worker
        compares it with the envelope's ``accept_by_us`` to refuse a request whose
        gateway had already given up and answered 503 (issue 11).
        """
        return cls(name, partitions, configs=(APPEND_TIME_CONFIG,))

    def topic_configs(self) -> dict[str, str]:
        """Every setting of the topic, as the broker takes them at creation."""
        out = dict(self.configs)
        if self.retention_ms:
            out["retention.ms"] = str(self.retention_ms)
        return out


@dataclass(frozen=True, slots=True)
class LogRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class OutMessage:
    topic: str
    value: bytes
    key: bytes | None = None
    partition: int | None = None


class Subscription(Protocol):
    """A consumer of one or more topics.

    With a group, ``commit`` stores the position after everything fetched so far, and a
    restarted subscriber of the same group resumes there (at-least-once). Without a group
    the subscription starts at the end of each topic: used for reply topics, whose stale
    messages must be skipped.
    """

    async def start(self) -> None: ...

    async def fetch(self, *, max_records: int, timeout_s: float) -> list[LogRecord]: ...

    async def commit(self) -> None: ...

    async def stop(self) -> None: ...


class EventLog(Protocol):
    """The log of truth: Kafka in production, an in-process log under ``gati dev``."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ensure_topics(self, topics: Sequence[TopicSpec]) -> None: ...

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None = None,
        partition: int | None = None, timeout_s: float | None = None,
    ) -> None:
        """Append and wait for the log's acknowledgement (durable on return).

        ``timeout_s`` replaces the adapter's own bound on the wait, for a caller whose
        promise depends on how long it waited (the gateway's 503, issue 11).
        """
        ...

    async def send_batch(self, messages: Sequence[OutMessage]) -> None:
        """Append all, in order, then wait until every one is acknowledged."""
        ...

    def subscribe(self, topics: Sequence[str], *, group: str | None,
                  bulk: bool = False) -> Subscription:
        """``bulk``: the subscriber prefers full batches to low latency (the recorder);
        an adapter may hold a fetch back a moment to fill it."""
        ...

    async def read_since(self, topic: str, partition: int, since_ms: int) -> list[LogRecord]:
        """One partition's records from the first at or after ``since_ms`` (log time) to
        its end as of the call: how a worker reads the effect journal of a partition it
        was just given."""
        ...
