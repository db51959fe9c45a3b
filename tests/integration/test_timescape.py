"""Timescape on real processes: three live versions, pinned clients, the transformer chain.

Runs on both backends (``gati dev`` on SQLite, and gateway/worker/recorder on Kafka and
Postgres) with ``tests/apps/timescape_app.py``. Operators act through the real CLI
(``gati timescape ...`` as a subprocess against the system's database); the worker
follows operator state by polling the registry (about every 2 s), so each test waits on
the condition it needs, never on a fixed sleep.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
import sqlalchemy as sa
from support import GATI, ROOT, System, eventually, start_system

from examples.users.app import app as users_app
from gati.cli.loader import load_app
from gati.core.envelopes import RequestEnvelope
from gati.policy import AuthOutcome, Principal
from gati.replay import Replayer
from gati.store import Store, open_store
from gati.testing import GatiTestClient, Result

pytestmark = pytest.mark.timeout(300)
APP = "tests/apps/timescape_app.py:app"
V1, V2, V3 = "2024-01-01", "2024-06-01", "2025-01-01"
VALID = "2024-01-01 (v1), 2024-06-01 (v2), 2025-01-01 (v3)"

# A request body in each version's shape, and the answer in that shape.
BODY = {V1: {"name": "Ada Lovelace"}, V2: {"fullName": "Ada Lovelace"},
        V3: {"fullName": "Ada Lovelace"}}
ANSWER = {
    V1: {"name": "Ada Lovelace", "text": "Hello, Ada Lovelace"},
    V2: {"fullName": "Ada Lovelace", "text": "Hello, Ada Lovelace"},
    V3: {"fullName": "Ada Lovelace", "text": "Hello, Ada Lovelace", "words": 2},
}
TRANSFORMED = ("transform", "version_unhealthy")
T = TypeVar("T")
Steps = list[tuple[str, dict[str, Any]]]


async def until(probe: Callable[[], Awaitable[T | None]], what: str) -> T:
    """``eventually``, typed for probes that answer None until ready."""
    found = await eventually(probe, within=30, what=what)
    assert found is not None
    return found


@pytest.fixture(scope="module", params=["embedded", "kafka"])
def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp(f"timescape-{request.param}")
    s = start_system(request.param, tmp, request, app=APP)
    yield s
    s.stop()  # replays every request this module sent, transformed ones included


@pytest.fixture
async def store(system: System) -> AsyncIterator[Store]:
    s = await open_store(system.database_url)
    yield s
    await s.close()


def timescape(system: System, *args: str) -> subprocess.CompletedProcess[str]:
    """``gati timescape ARGS`` as an operator runs it, against the system's database."""
    env = {**system.env, "GATI_DATABASE_URL": system.database_url}
    return subprocess.run([GATI, "timescape", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)


async def greet(
    client: httpx.AsyncClient, version: str | None = None, *, body: dict[str, Any] | None = None,
    query: bool = False,
) -> httpx.Response:
    """POST /greet pinned by header (or by ``?version=`` with ``query``)."""
    headers: dict[str, str] = {}
    params: dict[str, str] = {}
    if version is not None:
        (params if query else headers)["version" if query else "x-gati-version"] = version
    return await client.post("/greet", json=body if body is not None else BODY[V1],
                             headers=headers, params=params)


async def timeline(store: Store, request_id: str) -> Steps:
    async def done() -> Steps | None:
        events = await store.lifecycle(request_id)
        if not events or events[-1].stage != "responded":
            return None
        return [(e.stage, json.loads(e.detail) if e.detail else {}) for e in events]

    return await until(done, f"{request_id} recorded")


def routed(steps: Steps) -> dict[str, Any]:
    return next(d for s, d in steps if s == "routed")


def transforms(steps: Steps) -> list[tuple[str, str, str]]:
    return [(d["direction"], d["from"], d["to"]) for s, d in steps if s == "transform"]


async def recorded_version(store: Store, request_id: str) -> str | None:
    async def row() -> tuple[Any, ...] | None:
        async with store.engine.connect() as conn:
            got = (await conn.execute(
                sa.text("SELECT status, version FROM requests WHERE request_id = :r"),
                {"r": request_id})).first()
        return tuple(got) if got is not None and got[0] is not None else None

    found = await until(row, f"the requests row of {request_id}")
    return None if found[1] is None else str(found[1])


def listing(system: System) -> dict[str, dict[str, Any]]:
    result = timescape(system, "list", "--handler", "greet", "--json")
    assert result.returncode == 0, result.stderr
    return {row["version"]: row for row in json.loads(result.stdout)}


# Clients pinned every way get their own version's shape.


@pytest.mark.parametrize(
    ("pin", "query", "version"),
    [
        ("v1", False, V1),  # tag, header
        ("v2", True, V2),  # tag, ?version=
        ("v3", False, V3),
        ("2024-01-01", False, V1),  # a version's own date
        ("2024-07-15", False, V2),  # a timestamp: the latest version at or before it
        ("2024-12-31T23:59:59Z", True, V2),
        ("2025-03-01", True, V3),
        (None, False, V3),  # nothing: the latest active (no version is tagged stable)
    ],
)
async def test_a_pinned_client_gets_its_versions_shape(
    system: System, store: Store, pin: str | None, query: bool, version: str
) -> None:
    async with system.client() as client:
        response = await greet(client, pin, body=BODY[version], query=query)
    assert response.status_code == 200, response.text
    assert response.json() == ANSWER[version]
    assert response.headers["x-served-by"] == version
    rid = response.headers["x-request-id"]
    steps = await timeline(store, rid)
    assert routed(steps) == {
        "pattern": "/greet", "params": {}, "version": version, "requested_version": version,
        "preference": pin, "plan": "direct",
    }
    assert transforms(steps) == []
    assert await recorded_version(store, rid) == version


async def test_unknown_and_malformed_versions_are_refused_listing_the_valid_ones(
    system: System, store: Store
) -> None:
    async with system.client() as client:
        unknown = await greet(client, "v9")
        before_first = await greet(client, "2023-12-31")
        malformed = await greet(client, "12/31/2024", query=True)
    assert unknown.status_code == 404, unknown.text
    error = unknown.json()["error"]
    assert error["code"] == "unknown_version"
    assert error["message"] == f"greet has no version tagged 'v9'; valid: {VALID}"
    assert before_first.status_code == 404
    assert before_first.json()["error"]["message"] == (
        "greet has no version at or before 2023-12-31; the first is 2024-01-01")
    assert malformed.status_code == 400, malformed.text
    error = malformed.json()["error"]
    assert error["code"] == "malformed_version" and error["message"].endswith(f"valid: {VALID}")
    steps = await timeline(store, malformed.headers["x-request-id"])
    assert [s for s, _ in steps] == ["received", "failed", "responded"]
    assert await recorded_version(store, malformed.headers["x-request-id"]) is None


# Operators: gati timescape against this system's database.


async def test_timescape_list_shows_versions_tags_status_and_usage(system: System) -> None:
    async with system.client() as client:
        for version in (V1, V2, V3):
            assert (await greet(client, version, body=BODY[version])).status_code == 200

    def used() -> dict[str, dict[str, Any]] | None:
        rows = listing(system)
        return rows if all(rows[v]["requests_1h"] > 0 for v in (V1, V2, V3)) else None

    rows = await until(lambda: asyncio.to_thread(used), "usage of all three versions")
    assert [(v, r["tags"], r["status"], r["method"], r["path"]) for v, r in rows.items()] == [
        (V1, ["v1"], "active", "POST", "/greet"),
        (V2, ["v2"], "active", "POST", "/greet"),
        (V3, ["v3"], "active", "POST", "/greet"),
    ]
    assert rows[V1]["breaking"] is False  # the first version
    assert rows[V2]["breaking"] is True  # name -> fullName
    assert all(r["temperature"] == "warm" for r in rows.values())
    text = timescape(system, "list")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    at = lines.index("greet  POST /greet")
    assert [line.split()[:3] for line in lines[at + 1 : at + 4]] == [
        [V1, "v1", "active"], [V2, "v2", "active"], [V3, "v3", "active"]]
    assert "flaky  GET /flaky" in lines


async def test_timescape_diff_reports_what_breaks(system: System) -> None:
    diff = timescape(system, "diff", "greet", "v1", "v2")
    assert diff.returncode == 1, diff.stdout + diff.stderr  # 1: breaking
    out = diff.stdout
    assert out.startswith(f"greet: {V1} -> {V2}\nrequest (backward):\n  BREAKING (backward)")
    assert "- $.name: removed, was string, required (breaks forward)" in out
    assert "+ $.fullName: added, string, required (breaks backward)" in out
    assert "response (forward):\n  BREAKING (forward)" in out
    same = timescape(system, "diff", "greet", V3, "v3")
    assert same.returncode == 0, same.stdout + same.stderr
    assert "compatible" in same.stdout and "BREAKING" not in same.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("list", "--handler", "nope"), "unknown handler 'nope'; known: flaky, greet"),
        (("diff", "nope", "v1", "v2"), "unknown handler 'nope'"),
        (("diff", "greet", "v1", "v9"),
         f"greet has no version or tag 'v9'; versions: {V1}, {V2}, {V3}"),
        (("deactivate", "greet", "2023-01-01"), "greet has no version or tag '2023-01-01'"),
        (("activate", "nope", "v1"), "unknown handler 'nope'"),
        (("tag", "greet", "v7", "beta"), "greet has no version or tag 'v7'"),
        (("tag", "greet", "v2", "1beta"), "tag '1beta' must start with a letter"),
        (("tag", "greet", "v2", "v3"), "tag 'v3' is on version 2025-01-01"),
        (("untag", "greet", "v1"), "tag 'v1' is declared in code on 2024-01-01"),
        (("untag", "greet", "never"), "no version of greet has the operator tag 'never'"),
    ],
)
def test_timescape_errors_are_clear_and_exit_2(
    system: System, args: tuple[str, ...], message: str
) -> None:
    result = timescape(system, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("gati timescape: ") and message in result.stderr, (
        result.stderr)


async def test_an_operator_tag_pins_clients_once_the_worker_follows(system: System) -> None:
    added = timescape(system, "tag", "greet", "v2", "beta")
    assert added.returncode == 0 and added.stdout.strip() == f"greet {V2} is tagged beta"
    async with system.client() as client:

        async def served_by_v2() -> bool:
            response = await greet(client, "beta", body=BODY[V2])
            return response.status_code == 200 and response.headers["x-served-by"] == V2

        await eventually(served_by_v2, what="the worker to follow the tag 'beta'")
        removed = timescape(system, "untag", "greet", "beta")
        assert removed.returncode == 0 and removed.stdout.strip() == f"removed beta from greet {V2}"

        async def unknown_again() -> bool:
            return (await greet(client, "beta", body=BODY[V2])).status_code == 404

        await eventually(unknown_again, what="the worker to drop the tag 'beta'")
    assert listing(system)[V2]["tags"] == ["v2"]


# Deactivation: old clients are carried to a later version through the chain.


async def _served_by(client: httpx.AsyncClient, pin: str, version: str) -> httpx.Response:
    async def probe() -> httpx.Response | None:
        response = await greet(client, pin, body=BODY[V1 if pin == "v1" else V2])
        ok = response.status_code == 200 and response.headers.get("x-served-by") == version
        return response if ok else None

    return await until(probe, f"{pin} clients to be served by {version}")


async def test_deactivated_versions_serve_their_clients_through_the_transformer_chain(
    system: System, store: Store
) -> None:
    async with system.client() as client:
        recent = await greet(client, "v1")  # v1 traffic in the last hour
        assert await recorded_version(store, recent.headers["x-request-id"]) == V1
        refused = timescape(system, "deactivate", "greet", "v1")
        assert refused.returncode == 2
        assert f"{V1} served requests in the last 1:00:00" in refused.stderr
        assert "use --force to deactivate anyway" in refused.stderr
        try:
            done = timescape(system, "deactivate", "greet", "v1", "--force")
            assert (done.returncode, done.stdout.strip()) == (0, f"greet {V1} is inactive")

            # v1 -> v2: a v1 client still gets v1's shape, from v2's handler.
            response = await _served_by(client, "v1", V2)
            assert response.json() == ANSWER[V1]
            rid = response.headers["x-request-id"]
            steps = await timeline(store, rid)
            assert {k: routed(steps)[k] for k in ("version", "requested_version", "plan")} == {
                "version": V2, "requested_version": V1, "plan": "transformed"}
            assert transforms(steps) == [("request", V1, V2), ("response", V2, V1)]
            stages = [s for s, _ in steps]
            assert stages.index("routed") < stages.index("transform") < stages.index(
                "handler_start")
            assert stages[-2:] == ["transform", "responded"]
            assert await recorded_version(store, rid) == V2
            direct = await greet(client, "v2", body=BODY[V2])
            assert direct.headers["x-served-by"] == V2 and direct.json() == ANSWER[V2]

            # v1 -> v2 -> v3 and back, once v2 is inactive too.
            done = timescape(system, "deactivate", "greet", V2, "--force")
            assert (done.returncode, done.stdout.strip()) == (0, f"greet {V2} is inactive")
            response = await _served_by(client, "v1", V3)
            assert response.json() == ANSWER[V1]
            rid = response.headers["x-request-id"]
            steps = await timeline(store, rid)
            assert transforms(steps) == [
                ("request", V1, V2), ("request", V2, V3),
                ("response", V3, V2), ("response", V2, V1),
            ]
            assert routed(steps)["plan"] == "transformed"
            assert await recorded_version(store, rid) == V3
            v2_client = await greet(client, "2024-07-15", body=BODY[V2])
            assert v2_client.headers["x-served-by"] == V3 and v2_client.json() == ANSWER[V2]
            steps = await timeline(store, v2_client.headers["x-request-id"])
            assert transforms(steps) == [("request", V2, V3), ("response", V3, V2)]
            rows = listing(system)
            assert [rows[v]["status"] for v in (V1, V2, V3)] == ["inactive", "inactive", "active"]
        finally:
            for version in (V1, V2):
                again = timescape(system, "activate", "greet", version)
                assert again.returncode == 0, again.stderr
        await _served_by(client, "v1", V1)
        await _served_by(client, "v2", V2)


# Health: a failing version's traffic goes to a healthy one through transformers.


async def test_an_unhealthy_version_sends_its_clients_to_a_healthy_one(
    system: System, store: Store
) -> None:
    async with system.client() as client:
        # HealthTracker defaults: at least 10 outcomes, more than half of them 5xx.
        for _ in range(10):
            failed = await client.get("/flaky", headers={"x-gati-version": "v1", "x-fail": "1"})
            assert failed.status_code == 500, failed.text
        response = await client.get("/flaky", headers={"x-gati-version": "v1"})
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True}  # v1's shape
    assert response.headers["x-served-by"] == V2
    steps = await timeline(store, response.headers["x-request-id"])
    assert ("version_unhealthy", {"version": V1, "served_by": V2}) in steps
    route = routed(steps)
    assert (route["version"], route["requested_version"], route["plan"]) == (
        V2, V1, "transformed")
    assert route["unhealthy"] == [V1]
    assert transforms(steps) == [("request", V1, V2), ("response", V2, V1)]
    assert await recorded_version(store, response.headers["x-request-id"]) == V2


# The users example, in process: v2 routes have the example's hooks, and v1 clients keep
# working when v1 is retired.

# What the gateway puts in the envelope for a valid and for a wrong API key (the
# example's auth is a route policy, decided by the worker from this outcome).
KEY = AuthOutcome(Principal("api-key", "api_key"))
BAD_KEY = AuthOutcome(None, "invalid_api_key", "the credentials are not valid")
GRACE = {"id": 3, "first_name": "Grace", "last_name": "Brewster Hopper",
         "email": "grace@example.com"}


class _Inactive:
    """Operator state with these versions deactivated on every handler."""

    def __init__(self, *labels: str) -> None:
        self.labels = set(labels)

    def inactive(self, handler_id: str) -> set[str]:
        return set(self.labels)

    def tags(self, handler_id: str) -> dict[str, set[str]]:
        return {}


def _users_client() -> GatiTestClient:
    return GatiTestClient(
        users_app,
        modules={
            "db": {"insert_person": GRACE, "get_person": GRACE,
                   "update_person": {**GRACE, "last_name": "Hopper"}},
            "mail": {"send_welcome": {"sent": False, "reason": "smtp not configured"}},
        },
    )


async def _send(
    client: GatiTestClient, method: str, path: str, version: str | None,
    body: Any = None, auth: AuthOutcome | None = None,
) -> Result:
    """A request as the gateway makes it, with the version preference set."""
    now = client.clock.now_us()
    hdrs: list[tuple[str, str]] = []
    if body is not None:
        hdrs.append(("content-type", "application/json"))
    return await client.send(RequestEnvelope(
        request_id=str(uuid.uuid4()), gateway_id="gw-test", reply_topic="gati.replies.gw-test",
        reply_partition=0, received_at_us=now, deadline_at_us=now + 30_000_000,
        method=method, path=path, query="", headers=tuple(hdrs),
        body=b"" if body is None else json.dumps(body).encode(), version_pref=version,
        auth=auth))


def _hooks(result: Result) -> list[str]:
    return [json.loads(e.detail or "{}")["hook"].rsplit(".", 1)[-1]
            for e in result.events if e.stage == "hook_end"]


async def test_the_examples_v2_routes_run_its_hooks_and_auth() -> None:
    client = _users_client()
    body = {"firstName": "Grace", "lastName": "Brewster Hopper", "email": "grace@example.com"}
    refused = await _send(client, "POST", "/users", "v2", body, BAD_KEY)
    assert refused.status == 401 and "www-authenticate" in refused.headers
    created = await _send(client, "POST", "/users", "v2", body, KEY)
    assert created.status == 201, created.text
    assert created.json() == {"id": 3, **body}
    assert created.headers["location"] == "/users/3" and "server-timing" in created.headers
    assert _hooks(created) == ["timing_start", "timing_end", "audit"]
    db = client.modules["db"]
    assert [(c.method, c.args) for c in db.calls] == [
        ("insert_person", ("Grace", "Brewster Hopper", "grace@example.com"))]
    read = await _send(client, "GET", "/users/3", "2025-07-01")
    assert read.status == 200 and read.json() == {"id": 3, **body}
    assert _hooks(read) == ["timing_start", "timing_end"]
    assert "server-timing" in read.headers


async def test_the_examples_v1_clients_are_served_by_v2_once_v1_is_retired() -> None:
    client = _users_client()
    client.pipeline.versions = _Inactive("2025-01-01")
    v1_body = {"name": "Grace Brewster Hopper", "email": "grace@example.com"}
    created = await _send(client, "POST", "/users", "v1", v1_body, KEY)
    assert created.status == 201, created.text
    assert created.json() == {"id": 3, **v1_body}  # v1's shape, from v2's handler
    assert [(e.stage, json.loads(e.detail or "{}").get("direction")) for e in created.events
            if e.stage == "transform"] == [("transform", "request"), ("transform", "response")]
    assert _hooks(created) == ["timing_start", "timing_end", "audit"]
    # A refusal (401) is not a v2 user: it passes down unchanged.
    refused = await _send(client, "POST", "/users", "v1", v1_body, BAD_KEY)
    assert refused.status == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    renamed = await _send(client, "PATCH", "/users/3", "v1", {"name": "Grace Hopper"}, KEY)
    assert renamed.status == 200 and renamed.json() == {
        "id": 3, "name": "Grace Hopper", "email": "grace@example.com"}
    db = client.modules["db"]
    assert [(c.method, c.args) for c in db.calls] == [
        ("insert_person", ("Grace", "Brewster Hopper", "grace@example.com")),
        ("update_person", (3, {"first_name": "Grace", "last_name": "Hopper"})),
    ]
    # A client that names no version gets the latest active one once "stable" is retired.
    unpinned = await _send(client, "GET", "/users/3", None)
    assert set(unpinned.json()) == {"id", "firstName", "lastName", "email"}


# Replay of transformed requests.


async def test_transformed_requests_replay_identically(system: System) -> None:
    await _replay(system, transformed=True)


async def _replay(system: System, *, transformed: bool) -> None:
    """Replay this system's recorded requests that were (or were not) transformed."""
    store = await open_store(system.database_url)
    try:

        async def settled() -> bool:
            first = await store.count_events()
            await asyncio.sleep(0.3)  # a quiet interval: the recorder has caught up
            return first == await store.count_events()

        await eventually(settled, what="the recorder to catch up")
        stages = ", ".join(f"'{s}'" for s in TRANSFORMED)
        which = "EXISTS" if transformed else "NOT EXISTS"
        async with store.engine.connect() as conn:
            ids = [r[0] for r in await conn.execute(sa.text(
                "SELECT request_id FROM requests r WHERE status IS NOT NULL "
                f"AND method IS NOT NULL AND {which} (SELECT 1 FROM lifecycle_events e "
                f"WHERE e.request_id = r.request_id AND e.stage IN ({stages})) "
                "ORDER BY received_at"))]
        assert ids, "nothing to replay"
        batch = await Replayer(app=load_app(system.app), engine=store.engine).replay_many(ids)
        problems = [f"{r.request_id}: {r.divergence.message if r.divergence else r.error}"
                    for r in (*batch.diverged, *batch.failed)]
        assert not problems, (f"{len(problems)} of {batch.total} did not replay identically:\n"
                              + "\n".join(problems[:10]))
    finally:
        await store.close()
