"""The requests topic is declared with the broker's append time, and the embedded log
stamps records at append too, so ``gati dev`` refuses late envelopes like Kafka does."""

from __future__ import annotations

import time

from gati.core.ports import TopicSpec
from gati.log.memory import MemoryLog


def test_the_requests_topic_spec_asks_for_log_append_time() -> None:
    spec = TopicSpec.for_requests("gati.requests", 4)
    assert (spec.name, spec.partitions) == ("gati.requests", 4)
    assert spec.topic_configs() == {"message.timestamp.type": "LogAppendTime"}


def test_retention_and_configs_both_reach_the_broker() -> None:
    spec = TopicSpec("r", 1, retention_ms=3_600_000, configs=(("cleanup.policy", "delete"),))
    assert spec.topic_configs() == {"cleanup.policy": "delete", "retention.ms": "3600000"}
    assert TopicSpec("plain").topic_configs() == {}


async def test_the_memory_log_stamps_a_record_when_it_is_appended() -> None:
    log = MemoryLog()
    await log.ensure_topics([TopicSpec.for_requests("req", 1)])
    sub = log.subscribe(["req"], group="g")
    await sub.start()
    before_ms = time.time() * 1000
    await log.send("req", b"v", key=b"k")
    after_ms = time.time() * 1000
    [record] = await sub.fetch(max_records=10, timeout_s=0)
    assert before_ms - 1 <= record.timestamp_ms <= after_ms
