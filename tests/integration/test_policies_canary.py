"""A canary sent as a sensitive header, a query parameter (``access_token``, on the
default list) and a body field marked sensitive is in no Kafka topic, no table and no
process log after the request, and the request replays identically (issue 18)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from support import System, start_system
from test_handler_model import _scan_database, _scan_topics, _timeline

from gati.replay import Replayer
from gati.store import open_store

pytestmark = pytest.mark.timeout(240)
APP = "tests/apps/policies_app.py:app"
CANARY = f"canary{uuid.uuid4().hex}"


@pytest.fixture(scope="module", params=["embedded", "kafka"])
def system(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp(f"qcanary-{request.param}")
    s = start_system(request.param, tmp, request, app=APP,
                     GATI_SENSITIVE_HEADERS="x-vendor-token", GATI_SENSITIVE_FIELDS="password")
    yield s
    s.stop()


async def test_the_canary_is_in_no_topic_table_or_log_and_the_request_replays(
    system: System, request: pytest.FixtureRequest
) -> None:
    async with system.client() as client:
        response = await client.post(
            "/canary", params={"limit": "5", "access_token": CANARY},
            headers={"x-vendor-token": CANARY}, json={"user": "ada", "password": f"{CANARY}!"})
    assert response.status_code == 200, response.text
    # The handler saw the values themselves (equal header and query, full lengths).
    assert response.json() == {"same": True, "lengths": [len(CANARY)] * 2 + [len(CANARY) + 1]}

    store = await open_store(system.database_url)
    try:
        rid = response.headers["x-request-id"]
        steps = await _timeline(store, rid)
        line = next(d for s, d in steps if s == "log")
        fields = line.get("fields", line)
        assert str(fields["query"]).startswith("[REDACTED:"), line  # type: ignore[index]
        # One value, one token, whether it came in a header or the query string.
        assert fields["query"] == fields["header"]  # type: ignore[index]
        timeline = await store.timeline(rid)
        assert timeline is not None and timeline.query is not None
        assert timeline.query.startswith("limit=5&access_token=%5BREDACTED") or \
            timeline.query.startswith("limit=5&access_token=[REDACTED:"), timeline.query
        assert await _scan_database(store, CANARY) == []
        result = await Replayer(app=_app(), engine=store.engine).replay(rid)
        assert result.identical, result.divergence
    finally:
        await store.close()
    for name, proc in system.procs.items():
        assert CANARY not in proc.log_path.read_text(errors="replace"), name
    if system.kind == "kafka":
        scan = await _scan_topics(request.getfixturevalue("kafka_bootstrap"),
                                  system.env["GATI_TOPIC_PREFIX"], CANARY)
        assert scan["messages"], scan
        assert scan["leaks"] == [], scan["leaks"]


def _app():  # type: ignore[no-untyped-def]
    from gati.cli.loader import load_app

    return load_app(APP)
