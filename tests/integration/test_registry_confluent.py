"""Clients nobody here wrote read and write Gati's topics through ``gati registry``.

confluent-kafka's ``SchemaRegistryClient`` points at a real ``gati registry`` process over
the system's Postgres; its ``AvroDeserializer`` decodes every message real traffic put
on the requests and lifecycle topics of the real broker, and its ``AvroSerializer``
registers through the API and writes a request that Gati's worker decodes and answers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext
from support import KafkaSystem, Proc, eventually, free_port, start_system

from gati.store.store import open_store

pytestmark = pytest.mark.timeout(300)
TOKEN = "registry-test-token-" + uuid.uuid4().hex
ORDER_V1 = ('{"type": "record", "name": "Order", "namespace": "acme", "fields": '
            '[{"name": "id", "type": "string"}]}')
ORDER_V2 = ('{"type": "record", "name": "Order", "namespace": "acme", "fields": '
            '[{"name": "id", "type": "string"}, '
            '{"name": "note", "type": "string", "default": "none"}]}')


@pytest.fixture(scope="module")
def system(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaSystem]:
    tmp: Path = tmp_path_factory.mktemp("registry")
    s = start_system("kafka", tmp, request)
    assert isinstance(s, KafkaSystem)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def registry_url(system: KafkaSystem,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    proc = Proc("registry", ["registry", "--port", str(port)],
                {**system.env, "GATI_REGISTRY_TOKEN": TOKEN},
                tmp_path_factory.mktemp("registry-log") / "registry.log").start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/subjects", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if not proc.alive() or time.monotonic() > deadline:
            proc.stop()
            raise RuntimeError(f"gati registry did not start:\n{proc.tail()}")
        time.sleep(0.1)
    yield url
    proc.stop()


def _client(url: str, *, writer: bool = False) -> SchemaRegistryClient:
    conf = {"url": url}
    if writer:
        conf["basic.auth.user.info"] = f"gati:{TOKEN}"
    return SchemaRegistryClient(conf)


def _drain(system: KafkaSystem, topic: str, want: set[str],
           decode: AvroDeserializer) -> dict[str, list[dict[str, Any]]]:
    """Every message of ``topic`` decoded, by request id, until all of ``want`` are seen."""
    consumer = Consumer({"bootstrap.servers": system.env["GATI_KAFKA_BOOTSTRAP"],
                         "group.id": f"registry-test-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    seen: dict[str, list[dict[str, Any]]] = {}
    deadline = time.monotonic() + 60
    try:
        while not want <= set(seen):
            assert time.monotonic() < deadline, f"{topic}: saw {sorted(seen)}, want {want}"
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            record = decode(message.value(), SerializationContext(topic, MessageField.VALUE))
            assert isinstance(record, dict), f"{topic} message did not decode to a record"
            seen.setdefault(record["request_id"], []).append(record)
    finally:
        consumer.close()
    return seen


async def test_every_message_of_real_traffic_decodes_with_confluents_deserializer(
        system: KafkaSystem, registry_url: str) -> None:
    async with system.client() as client:
        made = await client.post("/users", json={"name": "Ada",
                                                 "email": f"{uuid.uuid4().hex[:8]}@x.org"})
        read = await client.get(f"/users/{made.json()['id']}")
        missing = await client.get("/users/999999")
    assert (made.status_code, read.status_code, missing.status_code) == (201, 200, 404)
    ids = {r.headers["x-request-id"] for r in (made, read, missing)}
    decode = AvroDeserializer(_client(registry_url))
    prefix = system.env["GATI_TOPIC_PREFIX"]
    requests = _drain(system, f"{prefix}.requests", ids, decode)
    assert {requests[i][0]["path"] for i in ids} == {
        "/users", f"/users/{made.json()['id']}", "/users/999999"}
    lifecycle = _drain(system, f"{prefix}.lifecycle", ids, decode)
    for rid in ids:
        stages = [e["stage"] for batch in lifecycle[rid] for e in batch["events"]]
        assert stages[0] == "received" and len(stages) > 2, stages


async def test_a_request_written_by_confluents_serializer_is_answered_by_the_worker(
        system: KafkaSystem, registry_url: str) -> None:
    prefix = system.env["GATI_TOPIC_PREFIX"]
    topic = f"{prefix}.requests"
    latest = _client(registry_url).get_latest_version(f"{topic}-value")
    serialize = AvroSerializer(_client(registry_url, writer=True), latest.schema.schema_str)
    rid = f"confluent-{uuid.uuid4().hex}"
    now_us = time.time_ns() // 1000
    record = {"request_id": rid, "gateway_id": system.env["GATI_GATEWAY_ID"],
              "reply_topic": f"{prefix}.replies.{system.env['GATI_GATEWAY_ID']}",
              "reply_partition": 0, "received_at_us": now_us,
              "deadline_at_us": now_us + 30_000_000, "method": "GET", "path": "/users/999999",
              "query": "", "headers": [{"name": "accept", "value": "application/json"}],
              "body": b""}
    data = serialize(record, SerializationContext(topic, MessageField.VALUE))
    assert data is not None and int.from_bytes(data[1:5], "big") == latest.schema_id == 10
    producer = Producer({"bootstrap.servers": system.env["GATI_KAFKA_BOOTSTRAP"]})
    producer.produce(topic, key=rid.encode(), value=data)
    assert producer.flush(30) == 0
    store = await open_store(system.database_url)
    try:
        async def answered() -> dict[str, Any] | None:
            row = await store.get_request(rid)
            return row if row and row["status"] is not None else None

        row = await eventually(answered, within=60, what="the worker to answer the request")
    finally:
        await store.close()
    assert (row["path"], row["status"]) == ("/users/999999", 404)


async def test_old_records_still_decode_after_the_schema_evolved(
        system: KafkaSystem, registry_url: str) -> None:
    topic = f"{system.env['GATI_TOPIC_PREFIX']}.orders"
    admin = AdminClient({"bootstrap.servers": system.env["GATI_KAFKA_BOOTSTRAP"]})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    ctx = SerializationContext(topic, MessageField.VALUE)
    writer = _client(registry_url, writer=True)
    producer = Producer({"bootstrap.servers": system.env["GATI_KAFKA_BOOTSTRAP"]})
    producer.produce(topic, value=AvroSerializer(writer, ORDER_V1)({"id": "old"}, ctx))
    producer.produce(topic, value=AvroSerializer(writer, ORDER_V2)(
        {"id": "new", "note": "gift"}, ctx))
    assert producer.flush(30) == 0
    with pytest.raises(SchemaRegistryError) as refused:
        AvroSerializer(writer, ORDER_V1.replace('"string"', '"long"'))({"id": 1}, ctx)
    assert (refused.value.http_status_code, refused.value.error_code) == (409, 409)
    read = AvroDeserializer(_client(registry_url), ORDER_V2)
    consumer = Consumer({"bootstrap.servers": system.env["GATI_KAFKA_BOOTSTRAP"],
                         "group.id": f"orders-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got: list[Any] = []
    deadline = time.monotonic() + 60
    try:
        while len(got) < 2 and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                got.append(read(message.value(), ctx))
    finally:
        consumer.close()
    assert got == [{"id": "old", "note": "none"}, {"id": "new", "note": "gift"}]
    assert _client(registry_url).get_versions(f"{topic}-value") == [1, 2]
