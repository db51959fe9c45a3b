"""The requests topic stamps each record with the broker's append time (issue 11).

A worker refuses an envelope appended after its gateway's ``accept_by_us``; that is only
sound if the record's timestamp is when the broker took it, never the producer's own
(CreateTime), which a message stuck in a producer's buffer through an outage would carry.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from gati.core.ports import TopicSpec
from gati.log.kafka import KafkaLog

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(90)]
DAY_MS = 86_400_000


@pytest.fixture
async def admin(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await client.start()
    yield client
    await client.close()


@pytest.fixture
async def name(admin: AIOKafkaAdminClient) -> AsyncIterator[str]:
    """A topic of this test alone, deleted afterwards."""
    topic = f"gati.t.requests.{uuid.uuid4().hex[:10]}"
    yield topic
    if topic in await admin.list_topics():
        await admin.delete_topics([topic])


async def _topic_configs(admin: AIOKafkaAdminClient, name: str) -> dict[str, tuple[str, int]]:
    """Setting -> (value, config_source) as the broker reports them."""
    [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    [(error, _, _, _, entries)] = response.resources
    assert error == 0, response
    return {e[0]: (e[1], e[3]) for e in entries}


async def test_the_requests_topic_is_created_with_log_append_time(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient, name: str
) -> None:
    log = KafkaLog(kafka_bootstrap, client_id="t-append-time")
    await log.ensure_topics([TopicSpec.for_requests(name, 2)])
    assert (await _topic_configs(admin, name))["message.timestamp.type"][0] == "LogAppendTime"


async def test_a_record_carries_the_brokers_append_time_not_the_producers(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient, name: str
) -> None:
    log = KafkaLog(kafka_bootstrap, client_id="t-append-time")
    await log.ensure_topics([TopicSpec.for_requests(name, 1)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        before_ms = int(time.time() * 1000)
        # A producer claiming the message was made a day ago, as a buffered one would.
        await producer.send_and_wait(name, b"late", timestamp_ms=before_ms - DAY_MS)
        after_ms = int(time.time() * 1000)
    finally:
        await producer.stop()
    sub = log.subscribe([name], group=f"t-{uuid.uuid4().hex[:8]}")
    await sub.start()
    try:
        records = await sub.fetch(max_records=10, timeout_s=10.0)
    finally:
        await sub.stop()
    assert [r.value for r in records] == [b"late"]
    # Broker and test share this host's clock; a second of slack for the millisecond
    # rounding is far below the day the producer claimed.
    assert before_ms - 1000 <= records[0].timestamp_ms <= after_ms + 1000


async def test_an_existing_requests_topic_gains_append_time_and_keeps_its_settings(
    kafka_bootstrap: str, admin: AIOKafkaAdminClient, name: str
) -> None:
    await admin.create_topics(
        [NewTopic(name, 1, 1, topic_configs={"retention.ms": "7200000"})])
    assert (await _topic_configs(admin, name))["message.timestamp.type"][0] == "CreateTime"
    log = KafkaLog(kafka_bootstrap, client_id="t-append-time")
    await log.ensure_topics([TopicSpec.for_requests(name, 1)])
    configs = await _topic_configs(admin, name)
    assert configs["message.timestamp.type"][0] == "LogAppendTime"
    assert configs["retention.ms"][0] == "7200000"  # AlterConfigs would have reset it
