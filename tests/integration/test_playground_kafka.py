"""The playground over a record the real system wrote: gateway, worker and recorder on
Kafka and PostgreSQL, the demo app's requests sent over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from gati.store import open_store
from tests.apps.playground_app import app as demo_app
from tests.support import System, eventually, start_system
from tests.unit.playground._seed import served

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
POST = {"X-Gati-Playground": "1"}


@pytest.fixture(scope="module")
def system(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    s = start_system("kafka", tmp_path_factory.mktemp("pg-kafka"), request,
                     app="tests.apps.playground_app:app")
    yield s
    s.stop()


async def test_requests_sent_through_kafka_are_listed_searched_tailed_and_replayed(
        system: System) -> None:
    store = await open_store(system.database_url)
    try:
        async with system.client() as gw, served(store, app=demo_app) as pg:
            sent = await gw.post("/orders", json={"item": "lamp", "qty": 3},
                                 headers={"X-Tenant": "initech"})
            assert sent.status_code == 201, sent.text
            rid = sent.headers["x-request-id"]

            async def listed() -> list[dict[str, Any]]:
                page = await pg.get("/api/requests", params={"header": "x-tenant:initech",
                                                             "body": "item=lamp"})
                return [i for i in page.json()["items"] if i["answered"]]

            [item] = await eventually(listed, within=30, what="the order in the playground")
            assert item["request_id"] == rid and item["status"] == 201
            record = (await pg.get(f"/api/requests/{rid}")).json()
            assert record["gateway_id"] and record["version"]
            assert ["x-tenant", "initech"] in record["headers"]
            await _is_the_kafka_message_of(system, record)
            replay = (await pg.post(f"/api/requests/{rid}/replay", headers=POST,
                                    json={})).json()
            assert replay["identical"] is True, replay["divergence"]
            await _replays_from_each_snapshot(pg, record)

            async with pg.stream("GET", "/api/tail", params={"path": "/greet"}) as tail:
                lines = tail.aiter_lines()
                assert await anext(lines) == ": tail"
                greeted = await gw.get("/greet/kafka")
                assert greeted.status_code == 200

                async def next_event() -> dict[str, Any]:
                    async for line in lines:
                        if line.startswith("data: "):
                            return dict(json.loads(line[6:]))
                    raise AssertionError("the stream ended")

                event = await asyncio.wait_for(next_event(), 30)
                assert event["request_id"] == greeted.headers["x-request-id"]
    finally:
        await store.close()



async def _is_the_kafka_message_of(system: System, record: dict[str, Any]) -> None:
    """The header fields lead back to where the request ran: the worker that answered
    it, and the requests-topic message it came from (read back from the broker)."""
    assert record["worker_id"] and record["worker_id"].startswith("wk-"), record["worker_id"]
    assert record["worker_ids"] == [record["worker_id"]]
    assert any(s["worker_id"] == record["worker_id"] for s in record["steps"]
               if s["stage"] == "responded")
    prefix = system.env["GATI_TOPIC_PREFIX"]
    assert record["log_topic"].startswith(prefix) and "requests" in record["log_topic"]
    assert isinstance(record["log_partition"], int) and record["log_offset"] >= 0
    consumer = AIOKafkaConsumer(bootstrap_servers=system.env["GATI_KAFKA_BOOTSTRAP"],
                                enable_auto_commit=False)
    await consumer.start()
    try:
        at = TopicPartition(record["log_topic"], record["log_partition"])
        consumer.assign([at])
        consumer.seek(at, record["log_offset"])
        message = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    assert message.offset == record["log_offset"]
    assert message.key == record["request_id"].encode()


async def _replays_from_each_snapshot(pg: Any, record: dict[str, Any]) -> None:
    """From snapshot N the replay starts there: lctx as the snapshot held it (the audit
    hook's mark), the hooks before it not run again, the rest compared with the record."""
    snaps = [s["seq"] for s in record["steps"] if s["stage"] == "snapshot"]
    assert snaps, "the order handler snapshots always"
    for n, seq in enumerate(snaps, start=1):
        res = (await pg.post(f"/api/requests/{record['request_id']}/replay", headers=POST,
                             json={"snapshot": n})).json()
        assert res["kind"] == "from_snapshot" and res["from_step"] == seq, res
        assert res["identical"] is True, res
        assert res["replayed"]["body"]["audited"] is True
        assert not any("audit" in step for step in res["replayed"]["trace"]), res
        assert res["replayed"]["trace"][-1] == "responded 201"
    last = max(s["seq"] for s in record["steps"])
    refused = await pg.post(f"/api/requests/{record['request_id']}/replay", headers=POST,
                            json={"at": last})
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "at"
    beyond = await pg.post(f"/api/requests/{record['request_id']}/replay", headers=POST,
                           json={"snapshot": len(snaps) + 1})
    assert beyond.status_code == 400 and beyond.json()["error"]["field"] == "snapshot"
