"""The behaviour users see, through HTTP, on both backends.

Each test runs against ``gati dev`` (embedded log + SQLite) and against the three
processes on real Kafka and Postgres; the assertions are identical.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from support import System, eventually, start_system

from gati.store import Store, open_store
from gati.store.schemas import SchemaStore

MAX_BODY = 4096
# POST /users with auth and mail off: the route timing hook (a clock read on each side),
# the handler with its database insert and the welcome-mail call (an effect even when
# SMTP is not configured), then the audit hook's log line. Auth is a route policy, off
# without an API key: no step of its own.
SUCCESS_STAGES = [
    "received", "routed",
    "hook_start", "effect", "hook_end",  # timing_start (route before), clock read
    # db.insert_user, the SMTP password lookup, mail.send_welcome; each module call is
    # journaled as about to be made ("calling") before its effect
    "handler_start", "calling", "effect", "effect", "calling", "effect", "handler_end",
    "hook_start", "effect", "hook_end",  # timing_end (route after), clock read
    "hook_start", "log", "hook_end",  # audit (route after)
    "responded",
]


@pytest.fixture(scope="module", params=["embedded", "kafka"])
def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp(request.param)
    sys_ = start_system(request.param, tmp, request, GATI_MAX_BODY_BYTES=str(MAX_BODY))
    yield sys_
    sys_.stop()


@pytest.fixture
async def client(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with system.client() as c:
        yield c


@pytest.fixture
async def store(system: System) -> AsyncIterator[Store]:
    s = await open_store(system.database_url)
    yield s
    await s.close()


def _email() -> str:
    return f"u{uuid.uuid4().hex[:10]}@example.com"


async def _recorded(store: Store, request_id: str, stage_count: int | None = None) -> list[str]:
    async def done() -> list[str] | None:
        row = await store.get_request(request_id)
        events = await store.lifecycle(request_id)
        stages = [e.stage for e in events]
        if row is None or row["status"] is None or "responded" not in stages:
            return None
        if stage_count is not None and len(stages) < stage_count:
            return None
        return stages

    return await eventually(done, within=30, what=f"request {request_id} recorded")


async def test_create_then_get_user(client: httpx.AsyncClient) -> None:
    email = _email()
    created = await client.post("/users", json={"name": "Ada", "email": email})
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["name"] == "Ada" and user["email"] == email and isinstance(user["id"], int)
    assert created.headers["location"] == f"/users/{user['id']}"
    assert uuid.UUID(created.headers["x-request-id"]).version == 7

    fetched = await client.get(f"/users/{user['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == user


async def test_update_list_delete_user(client: httpx.AsyncClient) -> None:
    user = (await client.post("/users", json={"name": "Bo", "email": _email()})).json()
    patched = await client.patch(f"/users/{user['id']}", json={"name": "Bob"})
    assert patched.status_code == 200 and patched.json()["name"] == "Bob"

    listed = await client.get("/users", params={"after": user["id"] - 1, "limit": 1})
    assert listed.status_code == 200
    assert listed.json()["users"] == [patched.json()]

    assert (await client.delete(f"/users/{user['id']}")).status_code == 204
    gone = await client.get(f"/users/{user['id']}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "user_not_found"


async def test_duplicate_email_is_a_conflict(client: httpx.AsyncClient) -> None:
    email = _email()
    assert (await client.post("/users", json={"name": "A", "email": email})).status_code == 201
    again = await client.post("/users", json={"name": "B", "email": email})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "email_taken"


async def test_request_and_lifecycle_rows_in_order(client: httpx.AsyncClient, store: Store) -> None:
    created = await client.post("/users", json={"name": "Cy", "email": _email()})
    rid = created.headers["x-request-id"]
    stages = await _recorded(store, rid, len(SUCCESS_STAGES))
    assert stages == SUCCESS_STAGES
    events = await store.lifecycle(rid)
    assert [e.seq for e in events] == list(range(len(SUCCESS_STAGES)))
    assert [e.at for e in events] == sorted(e.at for e in events)
    row = await store.get_request(rid)
    assert row is not None
    assert (row["method"], row["path"], row["status"]) == ("POST", "/users", 201)
    assert row["handler_id"] == "examples.users.app.create_user"
    assert row["received_at"] <= row["completed_at"]


async def test_a_typed_body_travels_as_avro_and_is_recorded_as_the_json_sent(
    client: httpx.AsyncClient, store: Store
) -> None:
    email = _email()
    v1 = await client.post("/users", json={"email": email, "name": "Ada"})
    v2 = await client.post("/users", headers={"x-gati-version": "v2"},
                           json={"firstName": "Grace", "lastName": "Hopper", "email": _email()})
    assert (v1.status_code, v2.status_code) == (201, 201), (v1.text, v2.text)
    assert v1.json()["name"] == "Ada" and v2.json()["firstName"] == "Grace"
    rows = []
    for answer in (v1, v2):
        rid = answer.headers["x-request-id"]
        await _recorded(store, rid)
        rows.append(await store.get_request(rid))
    assert rows[0] is not None and rows[1] is not None
    # Each body travelled in its version's schema, and the record holds the JSON sent.
    assert None not in (rows[0]["body_schema"], rows[1]["body_schema"])
    assert rows[0]["body_schema"] != rows[1]["body_schema"]
    assert json.loads(rows[0]["body"]) == {"name": "Ada", "email": email}
    schema = await SchemaStore(store.engine).get(rows[0]["body_schema"])
    assert [f["name"] for f in schema.schema["fields"]] == ["name", "email"]
    # `gati history` says so too.
    timeline = await store.timeline(v1.headers["x-request-id"])
    assert timeline is not None and timeline.body_schema == rows[0]["body_schema"]


async def test_a_body_that_breaks_its_contract_travels_as_sent_and_gets_400(
    client: httpx.AsyncClient, store: Store
) -> None:
    sent = b'{"name": 5, "email": "x@example.com", "extra": [1]}'
    bad = await client.post("/users", content=sent, headers={"content-type": "application/json"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "validation_failed"
    rid = bad.headers["x-request-id"]
    await _recorded(store, rid)
    row = await store.get_request(rid)
    assert row is not None and row["body_schema"] is None and row["body"] == sent


async def test_unknown_route_is_404_and_recorded(client: httpx.AsyncClient, store: Store) -> None:
    response = await client.get("/no/such/route")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert error["request_id"] == response.headers["x-request-id"]
    stages = await _recorded(store, error["request_id"])
    assert stages == ["received", "failed", "responded"]


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.put("/users/1", json={})
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert "PATCH" in response.headers["allow"]


async def test_malformed_json_is_400_and_recorded(client: httpx.AsyncClient, store: Store) -> None:
    response = await client.post(
        "/users", content=b'{"name": "x", ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_json"
    stages = await _recorded(store, error["request_id"])
    assert stages[-2:] == ["failed", "responded"]
    events = await store.lifecycle(error["request_id"])
    assert events[-1].status == 400 and events[-1].error_code == "invalid_json"


async def test_invalid_fields_are_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/users", json={"name": "x", "email": "not-an-email"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


async def test_body_over_limit_is_413_and_recorded(client: httpx.AsyncClient, store: Store) -> None:
    response = await client.post(
        "/users", content=b"x" * (MAX_BODY + 1), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "body_too_large"
    assert str(MAX_BODY) in error["message"]
    stages = await _recorded(store, response.headers["x-request-id"])
    assert stages == ["received", "rejected", "responded"]
    row = await store.get_request(response.headers["x-request-id"])
    assert row is not None and row["status"] == 413 and row["body"] == b""


async def test_body_at_limit_is_accepted(client: httpx.AsyncClient) -> None:
    name = "n" * (MAX_BODY - 100)
    body = f'{{"name": "{name}", "email": "{_email()}"}}'.encode()
    assert len(body) <= MAX_BODY
    response = await client.post(
        "/users", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 201


async def test_concurrent_requests_all_answered_and_recorded(
    client: httpx.AsyncClient, store: Store
) -> None:
    import asyncio

    responses = await asyncio.gather(
        *[client.post("/users", json={"name": f"p{i}", "email": _email()}) for i in range(40)]
    )
    assert [r.status_code for r in responses] == [201] * 40
    ids = {r.headers["x-request-id"] for r in responses}
    assert len(ids) == 40
    for rid in ids:
        assert await _recorded(store, rid, len(SUCCESS_STAGES)) == SUCCESS_STAGES
