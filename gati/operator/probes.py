"""What the operator reads outside Kubernetes: consumer lag from Kafka, version usage from
the store, and the one write it makes there (deactivating a cold version).

Connection strings come from the app's Secrets at each call and live only in memory;
neither is logged nor written to the resource's status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from gati.errors import GatiError
from gati.k8s.decommission import Verdict, VersionFacts
from gati.k8s.spec import Decommission
from gati.store.store import open_store
from gati.store.versions import VersionRegistry


@dataclass(frozen=True, slots=True)
class Lag:
    total: int
    partitions: int


async def consumer_lag(bootstrap: str, group: str, topic: str) -> Lag:
    """Messages of ``topic`` the group has not committed yet, summed over partitions.

    A partition the group never committed counts from its first offset: the worker's
    consumers start at the earliest message (``auto_offset_reset=earliest``).
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                request_timeout_ms=10_000)
    await admin.start()
    try:
        await consumer.start()
        try:
            described = await admin.describe_topics([topic])
            parts = [p["partition"] for d in described if d.get("error_code", 0) == 0
                     for p in d.get("partitions", [])]
            if not parts:
                return Lag(0, 0)
            tps = [TopicPartition(topic, p) for p in parts]
            committed = await admin.list_consumer_group_offsets(group, partitions=tps)
            end = await consumer.end_offsets(tps)
            start = await consumer.beginning_offsets(tps)
            total = 0
            for tp in tps:
                meta = committed.get(tp)
                at = meta.offset if meta is not None and meta.offset >= 0 else start[tp]
                total += max(0, end[tp] - at)
            return Lag(total, len(tps))
        finally:
            await consumer.stop()
    finally:
        await admin.close()


async def version_facts(database_url: str) -> list[VersionFacts]:
    store = await open_store(database_url)
    try:
        reg = VersionRegistry(store.engine)
        rows, usage = await reg.versions(), await reg.usage()
    finally:
        await store.close()
    out = []
    for r in rows:
        use = usage.get((r.handler_id, r.version))
        out.append(VersionFacts(r.handler_id, r.version, r.tsv, r.all_tags, r.status,
                                use.last_seen if use else None))
    return out


async def retire(database_url: str, verdicts: list[Verdict],
                 policy: Decommission) -> dict[tuple[str, str], str]:
    """Deactivate the ``retire`` verdicts; the registry's own guards still apply.

    Returns (handler, version) -> why, for those the registry deactivated; one it refuses
    (a request arrived since the verdict) stays active and is judged again next time.
    """
    done: dict[tuple[str, str], str] = {}
    store = await open_store(database_url)
    try:
        reg = VersionRegistry(store.engine)
        for v in verdicts:
            if v.state != "retire":
                continue
            try:
                await reg.set_status(v.handler_id, v.version, "inactive",
                                     recent=timedelta(seconds=policy.cold_after_s),
                                     protected=policy.protected_tags)
            except GatiError:
                continue
            at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            done[(v.handler_id, v.version)] = f"deactivated by the operator at {at}: {v.reason}"
    finally:
        await store.close()
    return done
