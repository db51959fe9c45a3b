"""What a typed body looks like on Kafka: RequestEnvelope v2 with an Avro body whose
schema id resolves in the Postgres schema store back to the JSON the client sent."""

from __future__ import annotations

import json
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from support import KafkaSystem, eventually, start_system

from gati.codec.bodies import BodyCodecs
from gati.codec.envelopes import EnvelopeCodec
from gati.core.envelopes import RequestEnvelope
from gati.store.schemas import body_schema_loader
from gati.store.store import open_store

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KafkaSystem]:
    tmp: Path = tmp_path_factory.mktemp("wire")
    s = start_system("kafka", tmp, request)
    assert isinstance(s, KafkaSystem)
    yield s
    s.stop()


async def _envelopes(system: KafkaSystem, wanted: set[str]) -> dict[str, tuple[int, bytes]]:
    """(frame schema id, raw message) of the ``wanted`` request ids on the requests topic."""
    found: dict[str, tuple[int, bytes]] = {}
    consumer = AIOKafkaConsumer(
        f"{system.env['GATI_TOPIC_PREFIX']}.requests",
        bootstrap_servers=system.env["GATI_KAFKA_BOOTSTRAP"],
        auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        async def all_seen() -> bool:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for rec in records:
                    key = (rec.key or b"").decode()
                    if key in wanted and rec.value is not None:
                        found[key] = (struct.unpack(">bI", rec.value[:5])[1], rec.value)
            return wanted <= set(found)

        await eventually(all_seen, within=30, what="the requests on the requests topic")
    finally:
        await consumer.stop()
    return found


async def test_typed_bodies_are_avro_on_kafka_and_the_store_decodes_them(
    system: KafkaSystem,
) -> None:
    sent = {"name": "Ada", "email": f"{uuid.uuid4().hex[:8]}@example.com"}
    async with system.client() as client:
        typed = await client.post("/users", json=sent)
        untyped = await client.get("/users/1")
        invalid = await client.post("/users", json={"name": 1})
    assert typed.status_code == 201 and invalid.status_code == 400
    ids = {name: r.headers["x-request-id"]
           for name, r in (("typed", typed), ("untyped", untyped), ("invalid", invalid))}
    wire = await _envelopes(system, set(ids.values()))
    codec = EnvelopeCodec()
    envs: dict[str, RequestEnvelope] = {}
    for name, rid in ids.items():
        frame_id, raw = wire[rid]
        assert frame_id == max(codec.request_ids)  # RequestEnvelope v2
        envs[name] = codec.decode_request(raw)
    assert envs["typed"].body_schema is not None
    assert b"Ada" in envs["typed"].body and not envs["typed"].body.startswith(b"{")
    assert len(envs["typed"].body) < len(json.dumps(sent))
    assert envs["untyped"].body_schema is None and envs["invalid"].body_schema is None
    assert json.loads(envs["invalid"].body) == {"name": 1}
    store = await open_store(system.database_url)
    try:
        back = await BodyCodecs(body_schema_loader(store.engine)).to_json(envs["typed"])
    finally:
        await store.close()
    assert json.loads(back.body) == sent
