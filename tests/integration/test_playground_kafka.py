"""The playground over a record the real system wrote: gateway, worker and recorder on
Kafka and PostgreSQL, the demo app's requests sent over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

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
            replay = (await pg.post(f"/api/requests/{rid}/replay", headers=POST,
                                    json={})).json()
            assert replay["identical"] is True, replay["divergence"]

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

