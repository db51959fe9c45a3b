"""The Kafka adapter of the ``EventLog`` port, on aiokafka.

Producers run with idempotence and ``acks=all``: a request the gateway acknowledged is on
the broker exactly once. Every call that can wait on the broker is bounded, because an
idempotent producer otherwise waits forever while the broker is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from gati.core.ports import LogRecord, OutMessage, TopicSpec
from gati.errors import BackendUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GroupMembership:
    """How a worker belongs to its consumer group: failover bounds and static membership.

    ``instance_id`` makes a static member (KIP-345): restarted under the same id it takes
    its partitions back without a rebalance. ``session_timeout_s`` bounds failover and,
    as the rebalance timeout, how long the broker waits for live members to rejoin.
    """

    instance_id: str | None
    session_timeout_s: float
    heartbeat_interval_s: float
    max_poll_interval_s: float

    def consumer_options(self) -> dict[str, Any]:
        session_ms = int(self.session_timeout_s * 1000)
        return {"group_instance_id": self.instance_id, "session_timeout_ms": session_ms,
                "rebalance_timeout_ms": session_ms,
                "heartbeat_interval_ms": int(self.heartbeat_interval_s * 1000),
                "max_poll_interval_ms": int(self.max_poll_interval_s * 1000),
                "request_timeout_ms": max(90_000, session_ms + 10_000)}


class KafkaLog:
    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str = "gati",
        send_timeout_s: float = 5.0,
        start_timeout_s: float = 30.0,
        linger_ms: int = 0,
    ) -> None:
        self.bootstrap = bootstrap
        # A few ms of linger lets concurrent requests share one produce request (the
        # profile's largest cost); 0 favours latency when traffic is light.
        self.linger_ms = linger_ms
        self.client_id = client_id
        self.send_timeout_s = send_timeout_s
        self.start_timeout_s = start_timeout_s
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect the producer, retrying until ``start_timeout_s`` for a broker starting up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout_s
        while True:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                client_id=self.client_id,
                enable_idempotence=True,
                acks="all",
                linger_ms=self.linger_ms,
                request_timeout_ms=int(self.send_timeout_s * 1000),
                max_request_size=16 * 1024 * 1024,
            )
            try:
                await asyncio.wait_for(producer.start(), max(1.0, deadline - loop.time()))
                self._producer = producer
                return
            except (KafkaError, OSError, TimeoutError) as exc:
                await _bounded(producer.stop(), 2.0)
                if loop.time() >= deadline:
                    raise BackendUnavailable(
                        f"Kafka at {self.bootstrap} is unreachable: {exc!r}"
                    ) from exc
                await asyncio.sleep(0.5)

    async def stop(self) -> None:
        if self._producer is not None:
            await _bounded(self._producer.stop(), 5.0)
            self._producer = None

    async def ensure_topics(self, topics: Sequence[TopicSpec]) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id=self.client_id)
        try:
            await asyncio.wait_for(admin.start(), self.start_timeout_s)
            existing = set(await admin.list_topics())
            new = [
                NewTopic(t.name, t.partitions, 1, topic_configs=t.topic_configs())
                for t in topics
                if t.name not in existing
            ]
            if new:
                # Another process may win the race; the outcome is the same.
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(new)
                await _await_leaders(admin, [t.name for t in new], self.start_timeout_s)
            # Every declared topic, not only those listed as existing: a topic created a
            # moment ago by another process may be missing from this broker's metadata
            # yet (create then says it exists), and must get the settings all the same.
            # One created here already has them, so reconciling it changes nothing.
            await _reconcile_configs(admin, [t for t in topics if t.configs])
        except (KafkaError, OSError, TimeoutError) as exc:
            raise BackendUnavailable(f"cannot create topics on {self.bootstrap}: {exc!r}") from exc
        finally:
            await _bounded(admin.close(), 5.0)

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None = None,
        partition: int | None = None, timeout_s: float | None = None,
    ) -> None:
        if self._producer is None:
            raise BackendUnavailable("the Kafka producer is not started")
        try:
            await asyncio.wait_for(
                self._producer.send_and_wait(topic, value, key=key, partition=partition),
                self.send_timeout_s if timeout_s is None else timeout_s,
            )
        except (KafkaError, TimeoutError) as exc:
            raise BackendUnavailable(
                f"Kafka did not acknowledge a write to {topic}: {exc!r}"
            ) from exc

    async def send_batch(self, messages: Sequence[OutMessage]) -> None:
        if self._producer is None:
            raise BackendUnavailable("the Kafka producer is not started")
        producer = self._producer

        async def append_then_wait() -> None:
            futures = [
                await producer.send(m.topic, m.value, key=m.key, partition=m.partition)
                for m in messages
            ]
            await asyncio.gather(*futures)

        try:
            await asyncio.wait_for(append_then_wait(), self.send_timeout_s)
        except (KafkaError, TimeoutError) as exc:
            raise BackendUnavailable(
                f"Kafka did not acknowledge {len(messages)} writes: {exc!r}"
            ) from exc

    def subscribe(self, topics: Sequence[str], *, group: str | None,
                  bulk: bool = False, membership: GroupMembership | None = None,
                  listener: ConsumerRebalanceListener | None = None) -> KafkaSubscription:
        """``membership`` and ``listener`` (awaited around every rebalance) are the
        group worker's: the engine that runs handlers needs both."""
        return KafkaSubscription(self, tuple(topics), group, bulk=bulk,
                                 membership=membership, listener=listener)

    async def read_since(self, topic: str, partition: int, since_ms: int) -> list[LogRecord]:
        """Read with a group-less consumer of its own, bounded by ``start_timeout_s``."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, client_id=self.client_id, group_id=None,
            enable_auto_commit=False, isolation_level="read_committed",
            max_partition_fetch_bytes=16 * 1024 * 1024,
        )
        tp = TopicPartition(topic, partition)
        try:
            await asyncio.wait_for(consumer.start(), self.start_timeout_s)
            return await asyncio.wait_for(_read_range(consumer, tp, since_ms),
                                          self.start_timeout_s)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise BackendUnavailable(f"cannot read {topic}[{partition}]: {exc!r}") from exc
        finally:
            await _bounded(consumer.stop(), 5.0)


class KafkaSubscription:
    """A group consumer with explicit commits, or a group-less reader from the end."""

    def __init__(self, owner: KafkaLog, topics: tuple[str, ...], group: str | None, *,
                 bulk: bool = False, membership: GroupMembership | None = None,
                 listener: ConsumerRebalanceListener | None = None) -> None:
        self._owner = owner
        self._topics = topics
        self._group = group
        self._bulk = bulk
        self._membership = membership
        self._listener = listener
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._owner.bootstrap,
            client_id=self._owner.client_id,
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_partition_fetch_bytes=16 * 1024 * 1024,
            # Bulk (the recorder): the broker holds a fetch up to 250 ms to gather 256 KB.
            # Under load that is a tenth of the fetches; the peer benchmark measured the
            # recorder's CPU per request down by 40 % and the machine's by 10 %.
            fetch_max_wait_ms=250 if self._bulk else 100,
            fetch_min_bytes=256 * 1024 if self._bulk else 1,
            **(self._membership.consumer_options() if self._membership else {}),
        )
        try:
            await asyncio.wait_for(consumer.start(), self._owner.start_timeout_s)
            if self._group is None:
                parts: list[TopicPartition] = []
                for topic in self._topics:
                    ids = consumer.partitions_for_topic(topic)
                    if not ids:
                        await consumer._client.force_metadata_update()
                        ids = consumer.partitions_for_topic(topic) or {0}
                    parts.extend(TopicPartition(topic, p) for p in sorted(ids))
                consumer.assign(parts)
                await consumer.seek_to_end(*parts)
                for tp in parts:
                    await consumer.position(tp)  # resolve "end" now, before anything new arrives
            elif self._listener is not None:
                consumer.subscribe(list(self._topics), listener=self._listener)
            else:
                consumer.subscribe(list(self._topics))
        except (KafkaError, OSError, TimeoutError) as exc:
            await _bounded(consumer.stop(), 5.0)
            raise BackendUnavailable(f"cannot consume {self._topics}: {exc!r}") from exc
        self._consumer = consumer

    async def fetch(self, *, max_records: int, timeout_s: float) -> list[LogRecord]:
        assert self._consumer is not None, "start() first"
        try:
            batches = await self._consumer.getmany(
                timeout_ms=int(timeout_s * 1000), max_records=max_records
            )
        except (KafkaError, OSError) as exc:
            raise BackendUnavailable(f"fetching from {self._topics} failed: {exc!r}") from exc
        out: list[LogRecord] = []
        for tp, records in batches.items():
            out.extend(
                LogRecord(tp.topic, tp.partition, r.offset, r.key, r.value or b"", r.timestamp)
                for r in records
            )
        return out

    async def commit(self) -> None:
        assert self._consumer is not None, "start() first"
        if self._group is not None:
            try:
                await self._consumer.commit()
            except (KafkaError, OSError) as exc:
                # A rebalance or an unreachable coordinator: the records since the last
                # commit will be delivered again, which the consumers' writes absorb.
                raise BackendUnavailable(f"committing {self._topics} failed: {exc!r}") from exc

    async def stop(self) -> None:
        if self._consumer is not None:
            await _bounded(self._consumer.stop(), 10.0)
            self._consumer = None


# DescribeConfigs' config_source of a setting made on the topic itself.
_DYNAMIC_TOPIC_CONFIG = 1


async def _reconcile_configs(admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec]) -> None:
    """Give topics created before a setting was declared (e.g. a requests topic without
    LogAppendTime, issue 11) that setting, or warn loudly when the broker refuses.

    AlterConfigs replaces a topic's whole set of settings, so the topic's own settings
    are read first and sent back with ours; a topic with a sensitive setting (which the
    broker does not reveal) is left alone rather than stripped of it.
    """
    if not specs:
        return
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, s.name) for s in specs])
    current = {res[3]: res for response in responses for res in response.resources}
    for spec in specs:
        _, _, _, name, entries = current[spec.name][:5]
        own = {e[0]: e[1] for e in entries if e[3] == _DYNAMIC_TOPIC_CONFIG}
        missing = {k: v for k, v in spec.configs if own.get(k) != v}
        if not missing:
            continue
        fix = " ".join(f"{k}={v}" for k, v in missing.items())
        if any(e[3] == _DYNAMIC_TOPIC_CONFIG and e[4] for e in entries):
            log.warning("topic %s lacks %s and has a sensitive setting Gati cannot carry "
                        "over; set it by hand (kafka-configs.sh --alter --entity-type topics "
                        "--entity-name %s --add-config %s)", name, fix, name, fix)
            continue
        altered = await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, {**own, **missing})])
        errors = [(r[0], r[1]) for a in altered for r in a.resources if r[0] != 0]
        if errors:
            log.warning("topic %s lacks %s and the broker refused to set it (%s); set it "
                        "by hand (kafka-configs.sh --alter --entity-type topics "
                        "--entity-name %s --add-config %s)", name, fix, errors, name, fix)
        else:
            log.info("topic %s existed without %s; set it", name, fix)


async def _read_range(consumer: AIOKafkaConsumer, tp: TopicPartition,
                      since_ms: int) -> list[LogRecord]:
    consumer.assign([tp])
    end = (await consumer.end_offsets([tp]))[tp]
    found = (await consumer.offsets_for_times({tp: max(0, since_ms)}))[tp]
    if found is None or found.offset >= end:
        return []
    consumer.seek(tp, found.offset)
    out: list[LogRecord] = []
    while await consumer.position(tp) < end:
        batches = await consumer.getmany(tp, timeout_ms=500, max_records=5000)
        for r in batches.get(tp, []):
            if r.offset < end:
                out.append(LogRecord(tp.topic, tp.partition, r.offset, r.key, r.value or b"",
                                     r.timestamp))
    return out


async def _await_leaders(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float) -> None:
    """Wait until every partition of new topics has a leader.

    A topic is usable only then; clients that arrive earlier get NotLeaderForPartition
    errors and retry noisily.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        described = await admin.describe_topics(names)
        ready = all(
            t.get("error_code", 0) == 0
            and t.get("partitions")
            and all(p.get("leader", -1) >= 0 for p in t["partitions"])
            for t in described
        )
        if ready or loop.time() >= deadline:
            return
        await asyncio.sleep(0.05)


async def _bounded(awaitable: object, timeout_s: float) -> None:
    try:
        await asyncio.wait_for(awaitable, timeout_s)  # type: ignore[arg-type]
    except Exception as exc:  # shutting down: report, never hang or raise
        log.warning("kafka shutdown step did not finish cleanly: %r", exc)
