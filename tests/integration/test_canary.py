"""A canary sent as a header, a body field, a module argument and inside an exception
message is in no Kafka topic and no database table, and its request still replays."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from support import System, start_system
from test_handler_model import _scan_database, _scan_topics, _timeline

from gati.replay import Replayer
from gati.store import open_store

pytestmark = pytest.mark.timeout(240)
APP = "tests/apps/lifecycle_app.py:app"
CANARY = f"canary{uuid.uuid4().hex}"


@pytest.fixture(scope="module", params=["embedded", "kafka"])
def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp(f"canary-{request.param}")
    s = start_system(
        request.param,
        tmp,
        request,
        app=APP,
        GATI_SENSITIVE_FIELDS="password",
        CANARY_SECRET="unused-here",
    )
    yield s
    s.stop()


async def test_the_canary_is_nowhere_and_the_request_replays(
    system: System, request: pytest.FixtureRequest
) -> None:
    headers = {"authorization": f"Bearer {CANARY}"}
    body = {"user": "ada", "password": f"{CANARY}-pw"}
    async with system.client() as client:
        ok = await client.post("/canary", json=body, headers=headers)
        failed = await client.post("/canary", params={"fail": "yes"}, json=body, headers=headers)
    assert ok.status_code == 200 and ok.json() == {"verified": True, "user": "ada"}
    assert failed.status_code == 500 and CANARY not in failed.text

    store = await open_store(system.database_url)
    try:
        for response in (ok, failed):
            steps = await _timeline(store, response.headers["x-request-id"])
            effect = next(d for s, d in steps if s == "effect")
            assert str(effect["args"][0]).startswith("[REDACTED:")  # a token, not the value
        leaks = await _scan_database(store, CANARY)
        assert leaks == [], leaks[:3]
        replayer = Replayer(app=_app(), engine=store.engine)
        for response in (ok, failed):
            result = await replayer.replay(response.headers["x-request-id"])
            assert result.identical, result.divergence
    finally:
        await store.close()
    if system.kind == "kafka":
        scan = await _scan_topics(
            request.getfixturevalue("kafka_bootstrap"), system.env["GATI_TOPIC_PREFIX"], CANARY
        )
        assert scan["messages"], scan
        assert scan["leaks"] == [], scan["leaks"]


def _app():  # type: ignore[no-untyped-def]
    from gati.cli.loader import load_app

    return load_app(APP)
