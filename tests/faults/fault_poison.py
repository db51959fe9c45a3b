"""Poison on Gati's topics, written with aiokafka as any other producer could write it.

Each poison message is kept with where it landed (topic, partition, offset), so the
suite can look for exactly that message on the dead-letter topic.
"""

from __future__ import annotations

import struct
import time
import uuid
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from gati.codec.avro import AvroCodec, default_registry
from gati.codec.envelopes import DEADLETTER, EnvelopeCodec
from gati.core.envelopes import RequestEnvelope

UNKNOWN_SCHEMA_ID = 987_654


@dataclass(frozen=True, slots=True)
class Poison:
    what: str
    topic: str
    partition: int
    offset: int = -1


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    consumer: str
    reason: str


def _envelope(reply_topic: str, gateway_id: str, path: str) -> bytes:
    now = int(time.time() * 1e6)
    env = RequestEnvelope(
        request_id=f"poison-{uuid.uuid4().hex}", gateway_id=gateway_id,
        reply_topic=reply_topic, reply_partition=0, received_at_us=now,
        deadline_at_us=now + 30_000_000, method="GET", path=path, query="",
        headers=(("content-type", "application/json"),), body=b"",
    )
    return EnvelopeCodec().encode_request(env)


def request_poison(prefix: str, steered_topic: str) -> list[tuple[str, bytes]]:
    """Bad bytes and bad-but-decodable envelopes for the requests topic."""
    return [
        ("garbage bytes", b"\x00\xff\xfe not avro at all \x01\x02"),
        ("unknown schema id", struct.pack(">bI", 0, UNKNOWN_SCHEMA_ID) + b"\x02\x04xyz"),
        ("too short to be framed", b"\x00\x01"),
        ("reply topic that is not a topic name",
         _envelope("no such topic/../!!", "gw-bad id!", "/_poison_bad_topic")),
        ("reply topic chosen by the envelope",
         _envelope(steered_topic, "gw-steer", "/_poison_steer")),
        ("reply topic of Gati's own lifecycle",
         _envelope(f"{prefix}.lifecycle", "gw-lc", "/_poison_lifecycle")),
    ]


def lifecycle_poison() -> list[tuple[str, bytes]]:
    return [
        ("garbage bytes", b"\x00garbage on the lifecycle topic"),
        ("unknown schema id", struct.pack(">bI", 0, UNKNOWN_SCHEMA_ID) + b"\x00"),
    ]


async def produce(bootstrap: str, topic: str, partitions: int,
                  items: list[tuple[str, bytes]]) -> list[Poison]:
    """Every item to every partition of ``topic``: each partition must keep flowing."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    out = []
    try:
        for partition in range(partitions):
            for what, value in items:
                meta = await producer.send_and_wait(topic, value, key=b"poison",
                                                    partition=partition)
                out.append(Poison(what, topic, meta.partition, meta.offset))
    finally:
        await producer.stop()
    return out


async def dead_letters(bootstrap: str, topic: str, *, want: set[tuple[str, int, int, str]],
                       within: float = 60.0) -> list[DeadLetter]:
    """The dead-letter topic's records, read until ``want`` (source topic, partition,
    offset, consumer) are all there or ``within`` seconds pass."""
    codec = AvroCodec(default_registry())
    ids = codec.registry.ids_for(DEADLETTER)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    found: list[DeadLetter] = []
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.seek_to_beginning()
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for rec in records:
                    _, r = codec.decode(rec.value, ids)
                    found.append(DeadLetter(r["source_topic"], r["source_partition"],
                                            r["source_offset"], r["consumer"], r["reason"]))
            if want <= {(d.topic, d.partition, d.offset, d.consumer) for d in found}:
                break
    finally:
        await consumer.stop()
    return found


async def messages_on(bootstrap: str, topic: str) -> int:
    """How many messages ``topic`` holds (0 when it does not exist)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        if topic not in await consumer.topics():
            return 0
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        ends = await consumer.end_offsets(tps)
        begins = await consumer.beginning_offsets(tps)
        return sum(ends[tp] - begins[tp] for tp in tps)
    finally:
        await consumer.stop()
