"""The handler model on real processes: hook order, timeouts, effects and secrets.

Runs on both backends; the secret scan also reads every Kafka topic of the system.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from support import System, eventually, start_system

from gati.store import Store, open_store

pytestmark = pytest.mark.timeout(240)
APP = "tests/apps/lifecycle_app.py:app"
CANARY = f"canary-{uuid.uuid4().hex}"


@pytest.fixture(scope="module", params=["embedded", "kafka"])
def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp(f"model-{request.param}")
    s = start_system(request.param, tmp, request, app=APP, CANARY_SECRET=CANARY)
    yield s
    s.stop()


@pytest.fixture
async def store(system: System) -> AsyncIterator[Store]:
    s = await open_store(system.database_url)
    yield s
    await s.close()


async def _timeline(store: Store, request_id: str) -> list[tuple[str, dict[str, object]]]:
    async def done() -> list[tuple[str, dict[str, object]]] | None:
        events = await store.lifecycle(request_id)
        if not events or events[-1].stage != "responded":
            return None
        return [(e.stage, json.loads(e.detail) if e.detail else {}) for e in events]

    return await eventually(done, within=30, what=f"{request_id} recorded")


async def test_hooks_at_three_levels_run_in_order_and_are_recorded(
    system: System, store: Store
) -> None:
    async with system.client() as client:
        response = await client.get("/ordered")
    assert response.status_code == 200, response.text
    assert response.json()["order"] == ["global-before", "route-before", "local-before", "handler"]
    timeline = await _timeline(store, response.headers["x-request-id"])
    hooks = [
        (d["hook"].rsplit(".", 1)[-1], d["level"], d["kind"])  # type: ignore[union-attr]
        for stage, d in timeline
        if stage == "hook_end"
    ]
    assert hooks == [
        ("global_before", "global", "before"),
        ("route_before", "route", "before"),
        ("local_before", "local", "before"),
        ("local_after", "local", "after"),
        ("route_after", "route", "after"),
        ("global_after", "global", "after"),
    ]
    stages = [s for s, _ in timeline]
    assert stages.index("handler_start") < stages.index("effect") < stages.index("handler_end")
    assert stages.index("handler_end") < stages.index("responded")


async def test_module_call_is_an_effect_row_with_its_result(system: System, store: Store) -> None:
    async with system.client() as client:
        response = await client.get("/ordered")
    timeline = await _timeline(store, response.headers["x-request-id"])
    effects = [d for stage, d in timeline if stage == "effect"]
    assert effects == [
        {
            "kind": "module",
            "module": "vault",
            "method": "lookup",
            "args": ["alpha"],
            "kwargs": {},
            "result": {"key": "alpha", "value": "ALPHA"},
            "duration_ms": effects[0]["duration_ms"],
            "attempts": 1,
        }
    ]


async def test_handler_timeout_answers_504_after_cleanup(system: System, store: Store) -> None:
    async with system.client() as client:
        response = await client.get("/slow")
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "handler_timeout"
    timeline = await _timeline(store, response.headers["x-request-id"])
    stages = [s for s, _ in timeline]
    assert "timeout" in stages
    cleanup = [d for s, d in timeline if s == "hook_end" and d.get("kind") == "cleanup"]
    assert [str(d["hook"]).rsplit(".", 1)[-1] for d in cleanup] == ["slow_cleanup"]
    logs = [d for s, d in timeline if s == "log"]
    assert logs and logs[0]["message"] == "cleanup ran"
    cleanup_at = next(
        i for i, (s, d) in enumerate(timeline) if s == "hook_end" and d.get("kind") == "cleanup"
    )
    assert stages.index("timeout") < cleanup_at < stages.index("responded")


async def test_a_secret_read_by_a_handler_is_nowhere_in_the_record(
    system: System, store: Store, request: pytest.FixtureRequest
) -> None:
    ids = []
    async with system.client() as client:
        ok = await client.post("/secret")
        assert ok.status_code == 200 and ok.json() == {"ok": True}
        client_error = await client.post("/secret", params={"fail": "client"})
        assert client_error.status_code == 422
        assert CANARY not in client_error.text and "[REDACTED:" in client_error.text
        server_error = await client.post("/secret", params={"fail": "server"})
        assert server_error.status_code == 500 and CANARY not in server_error.text
        ids = [r.headers["x-request-id"] for r in (ok, client_error, server_error)]
    for rid in ids:
        timeline = await _timeline(store, rid)
        assert "snapshot" in [s for s, _ in timeline]
    # The recorded steps still say what happened, with the value masked.
    server_timeline = await _timeline(store, ids[2])
    failed = next(d for s, d in server_timeline if s == "failed")
    assert failed["type"] == "RuntimeError" and "[REDACTED:" in str(failed["message"])

    leaks = await _scan_database(store)
    assert leaks == [], f"the secret is in the database: {leaks[:3]}"
    if system.kind == "kafka":
        topics = await _scan_topics(
            request.getfixturevalue("kafka_bootstrap"), system.env["GATI_TOPIC_PREFIX"]
        )
        assert topics["scanned"] >= 4, topics
        assert topics["leaks"] == [], f"the secret is on Kafka: {topics['leaks']}"


async def _scan_database(store: Store, canary: str = CANARY) -> list[str]:
    leaks: list[str] = []
    async with store.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        for table in tables:
            rows = (await conn.execute(sa.text(f'SELECT * FROM "{table}"'))).all()
            for row in rows:
                text = " ".join(
                    v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row
                )
                if canary in text:
                    leaks.append(f"{table}: {text[:200]}")
    return leaks


async def _scan_topics(bootstrap: str, prefix: str, canary: str = CANARY) -> dict[str, object]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(prefix + ".")]
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=f"scan-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    leaks: list[str] = []
    seen = 0
    try:
        ends = await consumer.end_offsets(list(consumer.assignment()) or [])
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                for rec in records:
                    seen += 1
                    if canary.encode() in (rec.value or b"") + (rec.key or b""):
                        leaks.append(f"{tp.topic}@{rec.offset}")
            positions = {tp: await consumer.position(tp) for tp in consumer.assignment()}
            ends = await consumer.end_offsets(list(consumer.assignment()))
            if consumer.assignment() and all(positions[tp] >= ends[tp] for tp in ends):
                break
    finally:
        await consumer.stop()
    return {"scanned": len(topics), "messages": seen, "leaks": leaks}
