"""`gati history` and retention on PostgreSQL, over requests the real pipeline handled.

Requests go through the worker's pipeline (``GatiTestClient``: routing, hooks, effects,
log lines, snapshots), their envelopes and lifecycle events are written by
``Store.record`` as the recorder writes them, and then ``gati history`` renders them,
the views answer about them, and ``gati history prune`` deletes by age.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from unit.store._history_seed import Seeded, build, seed

from gati import App, GlobalContext, LocalContext, Request, RequestError, Response
from gati.cli.main import cli
from gati.core.envelopes import LifecycleEvent, RequestEnvelope
from gati.store import open_store
from gati.testing import FixedClock, GatiTestClient
from gati.testing import Result as Handled

pytestmark = pytest.mark.postgres


class EmailTaken(Exception):
    pass


def users_app() -> App:
    app = App("history")

    @app.module("db")
    def make_db(config: Any) -> Any:
        raise RuntimeError("scripted in tests")

    @app.module("mail")
    def make_mail(config: Any) -> Any:
        raise RuntimeError("scripted in tests")

    @app.before
    async def principal(req: Request, res: Response, lctx: LocalContext,
                        gctx: GlobalContext) -> None:
        lctx.set("principal", "grace")

    async def audit(req: Request, res: Response, lctx: LocalContext,
                    gctx: GlobalContext) -> None:
        lctx.log.info("audited", by=lctx.get("principal"))

    @app.post("/users", handler_id="users.create", after=[audit])
    async def create(req: Request, res: Response, lctx: LocalContext,
                     gctx: GlobalContext) -> None:
        try:
            user = await gctx.modules.db.insert_user(req.body["name"], req.body["email"])
        except EmailTaken:
            raise RequestError("already registered", code="email_taken", status=409) from None
        lctx.now()
        await gctx.modules.mail.send_welcome(user["email"])
        lctx.log.info("user created", user_id=user["id"])
        lctx.snapshot("after_mail")
        res.status(201).json(user)

    return app


ADA = {"id": 1, "name": "Ada", "email": "ada@example.com"}


def envelope(request_id: str, at_us: int, body: dict[str, str]) -> RequestEnvelope:
    return RequestEnvelope(
        request_id=request_id, gateway_id="gw-pg", reply_topic="gati.replies.gw-pg",
        reply_partition=0, received_at_us=at_us, deadline_at_us=at_us + 30_000_000,
        method="POST", path="/users", query="", headers=(("content-type", "application/json"),),
        body=json.dumps(body).encode(), client="10.1.2.3",
    )


class Recorded:
    """Two requests through the pipeline and their envelopes."""

    def __init__(self, ok: Handled, taken: Handled, envs: list[RequestEnvelope]) -> None:
        self.ok, self.taken, self.envs = ok, taken, envs


async def handle_and_record(url: str) -> Recorded:
    start = int((datetime.now(UTC) - timedelta(minutes=5)).timestamp()) * 1_000_000
    client = GatiTestClient(
        users_app(),
        modules={"db": {"insert_user": [ADA, EmailTaken("ada@example.com")]},
                 "mail": {"send_welcome": None}},
        clock=FixedClock(start_us=start, step_us=250),
    )
    envs = [
        envelope("01980000-0000-7000-8000-0000000000a1", start, {"name": "Ada",
                                                               "email": "ada@example.com"}),
        envelope("01980000-0000-7000-8000-0000000000a2", start + 1000,
                 {"name": "Ada", "email": "ada@example.com"}),
    ]
    ok = await client.send(envs[0])
    taken = await client.send(envs[1])
    assert (ok.status, taken.status) == (201, 409)
    store = await open_store(url, migrate_first=True)
    try:
        await store.record(envs, [*ok.events, *taken.events])
    finally:
        await store.close()
    return Recorded(ok, taken, envs)


@pytest.fixture(scope="module")
def handled(fresh_pg_database: str) -> Recorded:
    return asyncio.run(handle_and_record(fresh_pg_database))


def gati(url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"GATI_DATABASE_URL": url})


async def fetch(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    store = await open_store(url)
    try:
        async with store.engine.connect() as conn:
            return [tuple(r) for r in await conn.execute(sa.text(sql), params)]
    finally:
        await store.close()


def test_history_renders_a_pipeline_request(fresh_pg_database: str, handled: Recorded) -> None:
    rid = handled.ok.request_id
    result = gati(fresh_pg_database, "history", rid)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("POST /users → 201  users.create version initial  ")
    assert lines[0].endswith("gateway gw-pg")
    steps = lines[3:]
    assert len(steps) == len(handled.ok.events)
    assert [line.split()[2] for line in steps] == handled.ok.stages
    text = result.output
    assert "principal (global before)" in text
    assert 'db.insert_user("Ada", "ada@example.com") → {"id":1' in text
    assert "clock → " in text
    assert 'mail.send_welcome("ada@example.com") → null' in text
    assert "[info] user created user_id=1" in text
    assert "after_mail: state keys principal" in text
    assert "audit (route after)" in text
    assert '[info] audited by="grace"' in text
    assert 'responded      201 · {"id":1,"name":"Ada","email":"ada@example.com"}' in text


def test_history_of_a_failed_request(fresh_pg_database: str, handled: Recorded) -> None:
    result = gati(fresh_pg_database, "history", handled.taken.request_id)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("POST /users → 409 email_taken")
    assert 'db.insert_user("Ada", "ada@example.com") ✗ EmailTaken: ada@example.com' in (
        result.output)
    assert "failed         409 email_taken RequestError: already registered" in result.output


def test_history_json_matches_the_record(fresh_pg_database: str, handled: Recorded) -> None:
    result = gati(fresh_pg_database, "history", handled.ok.request_id, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["status"], data["handler_id"], data["version"]) == (201, "users.create",
                                                                     "initial")
    assert [s["stage"] for s in data["steps"]] == handled.ok.stages
    assert [s["detail"] for s in data["steps"]] == [
        None if e.detail is None else json.loads(e.detail) for e in handled.ok.events]
    offsets = [s["ms_since_start"] for s in data["steps"]]
    assert offsets == sorted(offsets) and offsets[0] == 0.0


def test_unknown_and_malformed_ids(fresh_pg_database: str, handled: Recorded) -> None:
    unknown = gati(fresh_pg_database, "history", "01980000-0000-7000-8000-00000000ffff")
    assert unknown.exit_code == 1 and "is not recorded" in unknown.stderr
    assert gati(fresh_pg_database, "history", "nope").exit_code == 2


async def test_the_views_see_the_pipeline_requests(
    fresh_pg_database: str, handled: Recorded
) -> None:
    ok, taken = handled.ok.request_id, handled.taken.request_id
    steps = await fetch(fresh_pg_database,
                        "SELECT count(*) FROM request_timeline WHERE request_id = :r", r=ok)
    assert steps == [(len(handled.ok.events),)]
    calls = await fetch(
        fresh_pg_database,
        "SELECT request_id, module, method, ok FROM module_calls "
        "WHERE request_id IN (:a, :b) ORDER BY request_id, seq", a=ok, b=taken)
    assert calls == [(ok, "db", "insert_user", True), (ok, "mail", "send_welcome", True),
                     (taken, "db", "insert_user", False)]
    kinds = await fetch(fresh_pg_database,
                        "SELECT kind FROM effects WHERE request_id = :r ORDER BY seq", r=ok)
    assert kinds == [("module",), ("clock",), ("module",)]
    hooks = await fetch(fresh_pg_database,
                        "SELECT hook, kind, level, count FROM slowest_hooks ORDER BY hook")
    # hook ids are qualified names: <module>.<function>
    assert [(h[0].rsplit(".", 1)[-1], h[1], h[2]) for h in hooks] == [
        ("audit", "after", "route"), ("principal", "before", "global")]
    assert [h[3] for h in hooks] == [1, 2]
    errors = await fetch(fresh_pg_database,
                         "SELECT handler_id, version, status, error_code, count "
                         "FROM errors_by_handler")
    assert errors == [("users.create", "initial", 409, "email_taken", 1)]


# retention


def _counts(url: str) -> tuple[int, int]:
    rows = asyncio.run(fetch(url, "SELECT (SELECT count(*) FROM requests), "
                                  "(SELECT count(*) FROM lifecycle_events)"))
    return int(rows[0][0]), int(rows[0][1])


@pytest.fixture
def aged(fresh_pg_database: str, handled: Recorded) -> Iterator[tuple[Seeded, Seeded]]:
    async def main() -> tuple[Seeded, Seeded]:
        store = await open_store(fresh_pg_database)
        try:
            now = datetime.now(UTC).replace(microsecond=0)
            return (await seed(store, now - timedelta(days=60)),
                    await seed(store, now - timedelta(days=3)))
        finally:
            await store.close()

    yield asyncio.run(main())


def test_prune_on_postgres(fresh_pg_database: str, aged: tuple[Seeded, Seeded]) -> None:
    old, _recent = aged
    old_events = sum(len(r.events) for r in build(old.base)[0])
    before = _counts(fresh_pg_database)

    dry = gati(fresh_pg_database, "history", "prune", "--older-than", "30d", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.output.startswith(f"would delete 10 requests and {old_events} lifecycle events")
    assert _counts(fresh_pg_database) == before

    done = gati(fresh_pg_database, "history", "prune", "--older-than", "720h",
                "--batch-size", "3")
    assert done.exit_code == 0, done.output
    assert done.output.startswith(f"deleted 10 requests and {old_events} lifecycle events")
    assert "in 4 batches" in done.output
    assert _counts(fresh_pg_database) == (before[0] - 10, before[1] - old_events)
    assert gati(fresh_pg_database, "history", old.ids[0]).exit_code == 1

    # the 3-day-old ones go with a shorter age; the pipeline's (5 minutes) stay
    again = gati(fresh_pg_database, "history", "prune", "--older-than", "2d")
    assert again.output.startswith("deleted 10 requests")
    assert _counts(fresh_pg_database)[0] == 2
    bad = gati(fresh_pg_database, "history", "prune", "--older-than", "thirty days")
    assert bad.exit_code == 2 and "is not an age" in bad.stderr


async def test_store_prune_on_postgres_handles_orphans_and_straddlers(
    fresh_pg_database: str, handled: Recorded
) -> None:
    now = datetime.now(UTC)
    old = int((now - timedelta(days=90)).timestamp()) * 1_000_000
    new = int(now.timestamp()) * 1_000_000
    store = await open_store(fresh_pg_database)
    try:
        await store.record([], [
            LifecycleEvent("pg-orphan", 0, "received", old),
            LifecycleEvent("pg-orphan", 1, "routed", old + 1),
            LifecycleEvent("pg-outcome-only", 0, "responded", old, status=200),
            LifecycleEvent("pg-straddles", 0, "received", old),
            LifecycleEvent("pg-straddles", 1, "responded", new, status=200),
        ])
        cutoff = now - timedelta(days=30)
        dry = await store.prune(cutoff, dry_run=True)
        result = await store.prune(cutoff, batch_size=1)
        assert (dry.requests, dry.lifecycle_events) == (1, 3)
        assert (result.requests, result.lifecycle_events) == (1, 3)
        assert await store.timeline("pg-orphan") is None
        assert await store.timeline("pg-outcome-only") is None
        kept = await store.timeline("pg-straddles")
        assert kept is not None and len(kept.steps) == 2
        assert await store.timeline(handled.ok.request_id) is not None
    finally:
        await store.close()
