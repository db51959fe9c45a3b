"""The playground's JSON API over a real server on loopback and a recorded SQLite store."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from gati.core.ports import SystemClock
from gati.playground.records import MAX_IMPORT_BYTES
from gati.store import Store
from gati.store.versions import VersionRegistry
from tests.apps.playground_app import app as recorded_app
from tests.support import eventually
from tests.unit.playground._seed import envelope, record, served

POST = {"X-Gati-Playground": "1"}


def _error(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    error: dict[str, Any] = resp.json()["error"]
    assert error["status"] == status and error["message"]
    return error


async def test_the_list_is_newest_first_and_pages_by_cursor(
        client: httpx.AsyncClient, ids: dict[str, str]) -> None:
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = (await client.get("/api/requests", params={"limit": 2, "cursor": cursor}
                                 if cursor else {"limit": 2})).json()
        seen += [i["request_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids.values()))  # recorded in order, listed newest first
    first = (await client.get("/api/requests")).json()["items"][0]
    assert first["method"] == "POST" and first["path"] == "/orders"
    assert first["status"] == 201 and first["handler_id"] == "demo.create_order"
    assert "steps" not in first


@pytest.mark.parametrize(("params", "names"), [
    ({"method": "post"}, ["order_other", "order"]),
    ({"path": "greet"}, ["greet"]),
    ({"handler": "demo.user"}, ["user_v1"]),
    ({"version": "2024-01-01"}, ["user_v1"]),
    ({"status": "404"}, ["missing"]),
    ({"status": "4xx"}, ["missing"]),
    ({"error_code": "not_found"}, ["missing"]),
    ({"header": "X-Tenant:acme"}, ["order"]),
    ({"body": "item=pen"}, ["order_other"]),
    ({"body": "qty=2"}, ["order"]),
    ({"since": "1h", "method": "GET", "path": "/user"}, ["user_v1"]),
    ({"until": "2000-01-01T00:00:00Z"}, []),
])
async def test_each_filter_narrows_the_list(client: httpx.AsyncClient, ids: dict[str, str],
                                            params: dict[str, str], names: list[str]) -> None:
    resp = await client.get("/api/requests", params=params)
    assert resp.status_code == 200, resp.text
    assert [i["request_id"] for i in resp.json()["items"]] == [ids[n] for n in names]


async def test_a_request_id_prefix_finds_it(client: httpx.AsyncClient,
                                            ids: dict[str, str]) -> None:
    rid = ids["greet"]
    items = (await client.get("/api/requests", params={"request_id": rid[:-4]})).json()["items"]
    assert rid in [i["request_id"] for i in items]


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "abc"}, "status"),
    ({"since": "yesterdayish"}, "since"),
    ({"since": "1h", "until": "2h"}, "until"),
    ({"method": "FETCH"}, "method"),
    ({"header": "no-colon"}, "header"),
    ({"body": "no-equals"}, "body"),
    ({"limit": "0"}, "limit"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"colour": "red"}, "colour"),
])
async def test_malformed_filters_are_400_naming_the_field(
        client: httpx.AsyncClient, params: dict[str, str], field: str) -> None:
    error = _error(await client.get("/api/requests", params=params), 400)
    assert error["field"] == field


async def test_one_request_has_its_envelope_lifecycle_and_response(
        client: httpx.AsyncClient, ids: dict[str, str]) -> None:
    r = (await client.get(f"/api/requests/{ids['order']}")).json()
    assert r["status"] == 201 and r["version"] and r["gateway_id"] == "gw-test"
    assert ["x-tenant", "acme"] in r["headers"]
    assert json.loads(__import__("base64").b64decode(r["body_b64"])) == {"item": "book", "qty": 2}
    stages = [s["stage"] for s in r["steps"]]
    assert stages[0] == "received" and stages[-1] == "responded"
    assert {"hook_start", "snapshot", "effect", "handler_end"} <= set(stages)
    effect = next(s for s in r["steps"] if s["stage"] == "effect"
                  and s["detail"]["kind"] == "module")
    assert effect["detail"]["args"] == ["book", 2] and effect["detail"]["result"]["left"] == 8
    assert r["replayable"] is True


async def test_unknown_ids_are_404(client: httpx.AsyncClient) -> None:
    for path in ("/api/requests/nope", "/api/requests/nope/export"):
        assert _error(await client.get(path), 404)["code"] == "not_found"
    assert _error(await client.post("/api/requests/nope/replay", headers=POST), 404)
    assert _error(await client.get("/api/nothing-here"), 404)


async def test_replay_as_recorded_is_identical_and_a_changed_handler_diverges(
        client: httpx.AsyncClient, ids: dict[str, str]) -> None:
    same = (await client.post(f"/api/requests/{ids['order']}/replay", headers=POST,
                              json={})).json()
    assert same["identical"] is True and same["kind"] == "as_recorded"
    assert same["recorded"]["trace"] == same["replayed"]["trace"]
    # The playground runs the changed app: /greet now says Howdy.
    other = (await client.post(f"/api/requests/{ids['greet']}/replay", headers=POST)).json()
    assert other["identical"] is False
    assert "response body differs at $.greeting" in other["divergence"]["message"]
    assert other["recorded"]["body"] == {"greeting": "Hello, ada"}
    assert other["replayed"]["body"] == {"greeting": "Howdy, ada"}


async def test_replay_against_another_version_shows_both_sides(
        client: httpx.AsyncClient, ids: dict[str, str]) -> None:
    raw = (await client.post(f"/api/requests/{ids['user_v1']}/replay", headers=POST,
                             json={"version": "v2", "raw": True})).json()
    assert raw["identical"] is False and raw["kind"] == "against_version"
    assert raw["recorded"]["version"] == "2024-01-01"
    assert raw["replayed"]["version"] == "2025-01-01"
    assert raw["replayed"]["body"]["firstName"] == "Ada"
    assert "routed 2025-01-01" in raw["replayed"]["trace"]
    carried = (await client.post(f"/api/requests/{ids['user_v1']}/replay", headers=POST,
                                 json={"version": "v2"})).json()
    assert carried["replayed"]["version"] == "2025-01-01"
    assert carried["replayed"]["body"] == {"name": "Ada Lovelace", "email": "ada@example.com"}
    unknown = _error(await client.post(f"/api/requests/{ids['user_v1']}/replay", headers=POST,
                                       json={"version": "v9"}), 400)
    assert unknown["field"] == "version" and "v1" in unknown["message"]


async def test_an_edited_body_is_a_marked_replay_and_never_recorded(
        client: httpx.AsyncClient, store: Store, ids: dict[str, str]) -> None:
    before = await store.count_events()
    res = (await client.post(f"/api/requests/{ids['order']}/replay", headers=POST,
                             json={"body": {"item": "book", "qty": 3}})).json()
    assert res["edited"] is True and res["kind"] == "edited"
    assert res["identical"] is False
    assert "stock.reserve('book', 3)" in res["divergence"]["message"]
    assert await store.count_events() == before
    listed = (await client.get("/api/requests")).json()["items"]
    assert len(listed) == len(ids)


async def test_replay_from_a_snapshot(client: httpx.AsyncClient, ids: dict[str, str]) -> None:
    r = (await client.get(f"/api/requests/{ids['order']}")).json()
    snap = next(s["seq"] for s in r["steps"] if s["stage"] == "snapshot")
    res = (await client.post(f"/api/requests/{ids['order']}/replay", headers=POST,
                             json={"at": snap})).json()
    assert res["kind"] == "from_snapshot" and res["identical"] is True, res
    bad = _error(await client.post(f"/api/requests/{ids['order']}/replay", headers=POST,
                                   json={"at": 0}), 400)
    assert bad["field"] == "at" and "not a snapshot" in bad["message"]
    snaps = [s["seq"] for s in r["steps"] if s["stage"] == "snapshot"]
    second = (await client.post(f"/api/requests/{ids['order']}/replay", headers=POST,
                                json={"snapshot": 2})).json()
    assert second["from_step"] == snaps[1] and second["identical"] is True, second
    assert second["replayed"]["trace"][0] == "handler_start"  # the audit hook is not re-run
    assert second["replayed"]["body"]["audited"] is True  # lctx as the snapshot held it
    beyond = _error(await client.post(f"/api/requests/{ids['order']}/replay", headers=POST,
                                      json={"snapshot": len(snaps) + 1}), 400)
    assert beyond["field"] == "snapshot" and f"{len(snaps)} snapshot" in beyond["message"]


@pytest.mark.parametrize(("body", "field"), [
    ({"raw": True}, "raw"), ({"at": -1}, "at"), ({"version": 3}, "version"),
    ({"snapshot": 0}, "snapshot"), ({"snapshot": 1, "at": 4}, "snapshot"),
    ({"speed": "fast"}, "speed"), ([1, 2], "body"),
])
async def test_malformed_replay_options_are_400(client: httpx.AsyncClient, ids: dict[str, str],
                                                body: Any, field: str) -> None:
    error = _error(await client.post(f"/api/requests/{ids['order']}/replay", headers=POST,
                                     json=body), 400)
    assert error["field"] == field


async def test_export_then_import_replays_the_file_offline(
        client: httpx.AsyncClient, store: Store, ids: dict[str, str]) -> None:
    resp = await client.get(f"/api/requests/{ids['order']}/export")
    assert "attachment" in resp.headers["content-disposition"]
    doc = resp.json()
    assert doc["format"] == "gati.record" and doc["request"]["request_id"] == ids["order"]
    # Another machine: an empty store, only the file.
    async with served(await _empty(store)) as elsewhere:
        res = await elsewhere.post("/api/import", headers=POST, content=json.dumps(doc))
        assert res.status_code == 200, res.text
        assert res.json()["identical"] is True and res.json()["imported"] is True
        greet = (await client.get(f"/api/requests/{ids['greet']}/export")).content
        diverged = (await elsewhere.post("/api/import", headers=POST, content=greet)).json()
        assert diverged["identical"] is False


async def _empty(store: Store) -> Store:
    from gati.store import open_store

    path = str(store.engine.url.database) + ".empty.db"
    return await open_store(f"sqlite+aiosqlite:///{path}", migrate_first=True)


@pytest.mark.parametrize(("content", "status", "field"), [
    (b"not json", 400, "file"),
    (json.dumps({"hello": "world"}).encode(), 400, "format"),
    (json.dumps({"format": "gati.record", "format_version": 7}).encode(), 400, "format_version"),
    (json.dumps({"format": "gati.record", "format_version": 1, "request": {
        "request_id": "x", "steps": "no"}}).encode(), 400, "request.steps"),
    (b"{" + b" " * (MAX_IMPORT_BYTES + 1) + b"}", 413, "body"),
    (json.dumps({"format": "gati.record", "format_version": 1, "request": {
        "request_id": "x", "steps": [], "log_offset": "12"}}).encode(), 400,
     "request.log_offset"),
])
async def test_bad_imports_are_clear_errors(client: httpx.AsyncClient, content: bytes,
                                            status: int, field: str) -> None:
    error = _error(await client.post("/api/import", headers=POST, content=content), status)
    assert error["field"] == field


async def test_state_changing_calls_need_the_csrf_header_and_this_origin(
        client: httpx.AsyncClient, ids: dict[str, str]) -> None:
    url = f"/api/requests/{ids['order']}/replay"
    assert _error(await client.post(url, json={}), 403)["code"] == "csrf"
    foreign = await client.post(url, json={}, headers={**POST, "Origin": "http://evil.example"})
    assert _error(foreign, 403)["field"] == "origin"
    port = client.base_url.port
    own = await client.post(url, json={}, headers={**POST, "Origin": f"http://127.0.0.1:{port}"})
    assert own.status_code == 200


async def test_without_a_token_only_loopback_host_names_are_served(
        client: httpx.AsyncClient) -> None:
    rebinding = await client.get("/api/requests", headers={"Host": "evil.example"})
    assert _error(rebinding, 403)["field"] == "host"
    assert (await client.get("/api/requests", headers={"Host": "localhost"})).status_code == 200


async def test_a_token_is_required_when_set(store: Store, ids: dict[str, str]) -> None:
    token = "s3cret-token-0123456789"
    async with served(store, token=token) as c:
        assert _error(await c.get("/api/requests"), 401)["code"] == "unauthorized"
        wrong = await c.get("/api/requests", headers={"Authorization": "Bearer nope"})
        assert _error(wrong, 401)
        ok = await c.get("/api/requests", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and len(ok.json()["items"]) == len(ids)
        assert (await c.get("/api/requests", params={"token": token})).status_code == 200


async def test_batch_replay_summarises_a_window(client: httpx.AsyncClient,
                                                ids: dict[str, str]) -> None:
    s = (await client.post("/api/replay/batch", headers=POST, json={"since": "1h"})).json()
    assert s["total"] == len(ids)
    assert [d["request_id"] for d in s["diverged"]] == [ids["greet"]]
    assert s["identical"] == len(ids) - 1
    one = (await client.post("/api/replay/batch", headers=POST,
                             json={"since": "1h", "handler": "demo.user",
                                   "version": "v2", "raw": True})).json()
    assert one["total"] == 1 and len(one["diverged"]) == 1
    bad = _error(await client.post("/api/replay/batch", headers=POST, json={"since": "x"}), 400)
    assert bad["field"] == "since"


async def test_a_background_batch_reports_progress_then_its_summary(
        client: httpx.AsyncClient, ids: dict[str, str]) -> None:
    job = (await client.post("/api/replay/batches", headers=POST, json={"since": "1h"})).json()
    assert job["total"] == len(ids) and job["job_id"]

    async def finished() -> dict[str, Any] | None:
        state = (await client.get(f"/api/replay/batches/{job['job_id']}")).json()
        assert 0 <= state["replayed"] <= state["total"]
        return state if state["done"] else None

    done = await eventually(finished, within=30, what="the batch to finish")
    assert done["replayed"] == len(ids) and done["error"] is None
    assert [d["request_id"] for d in done["summary"]["diverged"]] == [ids["greet"]]
    assert _error(await client.get("/api/replay/batches/nope"), 404)["field"] == "job_id"
    bad = await client.post("/api/replay/batches", headers=POST, json={"since": "soon"})
    assert _error(bad, 400)["field"] == "since"


async def test_versions_list_the_registry_with_usage(client: httpx.AsyncClient,
                                                     store: Store) -> None:
    await VersionRegistry(store.engine).register(recorded_app)
    rows = (await client.get("/api/versions")).json()
    users = [r for r in rows if r["handler_id"] == "demo.user"]
    assert [r["version"] for r in users] == ["2024-01-01", "2025-01-01"]
    assert users[0]["tags"] == ["v1"] and users[0]["requests_24h"] == 1
    assert users[0]["temperature"] == "warm" and users[1]["temperature"] == "cold"


async def test_the_compatibility_report_between_two_versions(client: httpx.AsyncClient,
                                                              store: Store) -> None:
    await VersionRegistry(store.engine).register(recorded_app)
    report = (await client.get("/api/versions/compatibility", params={
        "handler": "demo.user", "old": "v1", "new": "v2"})).json()
    assert report["breaking"] is True and report["old"] == "2024-01-01"
    assert report["response"]["compatible"] is False and report["response"]["mode"] == "forward"
    assert any("$.name" in c for c in report["response"]["changes"])
    assert report["request"]["compared"] is False  # a GET declares no request type
    same = (await client.get("/api/versions/compatibility", params={
        "handler": "demo.user", "old": "v1", "new": "v1"})).json()
    assert same["breaking"] is False
    for params, field in (({"handler": "demo.user", "old": "v1", "new": "v9"}, "new"),
                          ({"handler": "demo.nope", "old": "v1", "new": "v2"}, "handler")):
        error = _error(await client.get("/api/versions/compatibility", params=params), 404)
        assert error["field"] == field
    assert _error(await client.get("/api/versions/compatibility"), 400)["field"] == "handler"


async def test_the_live_tail_streams_new_requests(client: httpx.AsyncClient,
                                                  store: Store) -> None:
    async with client.stream("GET", "/api/tail", params={"path": "greet"}) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = resp.aiter_lines()
        assert await anext(lines) == ": tail"  # the tail has started from now
        started = SystemClock().now_us()
        [_other, wanted] = await record(store, envelope("GET", "/user"),
                                        envelope("GET", "/greet/grace",
                                                 at_us=started + 1_000_000))

        async def next_event() -> dict[str, Any]:
            async for line in lines:
                if line.startswith("data: "):
                    return dict(json.loads(line[6:]))
            raise AssertionError("the stream ended")

        event = await asyncio.wait_for(next_event(), 20)
        assert event["request_id"] == wanted and event["path"] == "/greet/grace"
        # A slower request, received before the one shown but recorded after it.
        [late] = await record(store, envelope("GET", "/greet/slow", at_us=started + 1000))
        event = await asyncio.wait_for(next_event(), 20)
        assert event["request_id"] == late
        [after] = await record(store, envelope("GET", "/greet/after",
                                               at_us=started + 2_000_000))
        assert (await asyncio.wait_for(next_event(), 20))["request_id"] == after  # once each


async def test_without_an_app_replay_is_refused_but_reading_works(
        store: Store, ids: dict[str, str]) -> None:
    async with served(store, app=None) as c:
        assert (await c.get(f"/api/requests/{ids['order']}")).json()["replayable"] is False
        error = _error(await c.post(f"/api/requests/{ids['order']}/replay", headers=POST), 409)
        assert error["code"] == "no_app"


async def test_the_openapi_document_describes_every_route(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {
        "/api/requests", "/api/requests/{request_id}", "/api/requests/{request_id}/export",
        "/api/requests/{request_id}/replay", "/api/import", "/api/replay/batch",
        "/api/versions", "/api/tail", "/api/openapi.json", "/api/gates",
        "/api/gates/{gate_id}/delete", "/api/paused/{pause_id}", "/api/versions/compatibility",
        "/api/replay/batches", "/api/replay/batches/{job_id}"}
