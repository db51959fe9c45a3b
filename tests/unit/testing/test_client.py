"""GatiTestClient: requests through the real pipeline with scripted modules."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gati import App, GlobalContext, LocalContext, Request, RequestError, Response
from gati.testing import (
    GatiTestClient,
    ScriptedModule,
    ScriptError,
    ScriptExhausted,
    UnscriptedCall,
    returns,
)


class EmailTaken(Exception):
    pass


def make_shop() -> App:
    """A small app with the shape of examples/users: a db and a mail module, hooks."""
    app = App("shop")

    @app.module("db")
    def _db(config: dict[str, Any]) -> Any:
        raise AssertionError("tests never build the real db")

    @app.module("mail", retries=0)
    def _mail(config: dict[str, Any]) -> Any:
        raise AssertionError("tests never build the real mailer")

    @app.before
    async def who(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        lctx.set("principal", req.headers.get("x-user", "anonymous"))

    async def stamp(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.header("x-principal", lctx.get("principal"))

    @app.post("/users", handler_id="users.create", after=[stamp])
    async def create(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        try:
            user = await gctx.modules.db.insert_user(req.body["name"], req.body["email"])
        except EmailTaken:
            raise RequestError("taken", code="email_taken", status=409) from None
        await gctx.modules.mail.send_welcome(user["email"])
        lctx.log.info("user created", user_id=user["id"])
        await gctx.publish("user.created", {"id": user["id"]})
        res.status(201).header("location", f"/users/{user['id']}").json(user)

    @app.get("/users/{user_id:int}", handler_id="users.get")
    async def get(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        user = await gctx.modules.db.get_user(req.params["user_id"])
        if user is None:
            raise RequestError("no such user", code="user_not_found", status=404)
        res.json(user)

    @app.get("/users", handler_id="users.list")
    async def list_(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        limit = int(req.query_one("limit", "10") or "10")
        res.json({"users": await gctx.modules.db.list_users(limit)})

    @app.get("/boom", handler_id="boom")
    async def boom(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        raise RuntimeError("kaboom")

    return app


ADA = {"id": 1, "name": "Ada", "email": "ada@example.com"}


async def test_a_request_returns_the_response_and_its_record() -> None:
    client = GatiTestClient(make_shop(), modules={
        "db": {"insert_user": ADA}, "mail": {"send_welcome": None}})

    result = await client.post("/users", json={"name": "Ada", "email": "ada@example.com"},
                               headers={"X-User": "grace"})

    assert result.status == 201
    assert result.json() == ADA
    assert result.headers["location"] == "/users/1"
    assert result.headers["x-principal"] == "grace"  # global before + route after hook ran
    assert result.handler_id == "users.create"
    db_call, mail_call = result.calls()
    assert (db_call.module, db_call.method, db_call.args) == ("db", "insert_user",
                                                               ("Ada", "ada@example.com"))
    assert db_call.result == ADA and db_call.ok
    assert mail_call.name == "mail.send_welcome" and mail_call.args == ("ada@example.com",)
    assert [(line.level, line.message, dict(line.fields)) for line in result.log_lines] == [
        ("info", "user created", {"user_id": 1})]
    assert [(p.topic, p.payload) for p in result.published] == [("user.created", {"id": 1})]
    assert result.stages[0] == "received" and result.stages[-1] == "responded"
    assert "handler_start" in result.stages and result.error_code is None


async def test_list_scripts_answer_in_order_across_requests() -> None:
    users = [{"id": 1, "name": "A"}, None, {"id": 3, "name": "C"}]
    client = GatiTestClient(make_shop(), modules={"db": {"get_user": users}})

    statuses = [(await client.get(f"/users/{n}")).status for n in (1, 2, 3)]

    assert statuses == [200, 404, 200]
    assert [c.args for c in client.modules["db"].calls_to("get_user")] == [(1,), (2,), (3,)]
    with pytest.raises(ScriptExhausted, match=r"db\.get_user\(\) was scripted for 3 call"):
        await client.get("/users/4")


async def test_an_exception_in_the_script_is_raised_by_the_call() -> None:
    client = GatiTestClient(make_shop(), modules={"db": {"insert_user": EmailTaken("x")}})

    result = await client.post("/users", json={"name": "Ada", "email": "ada@example.com"})

    assert result.status == 409
    assert result.error is not None and result.error["code"] == "email_taken"
    (call,) = result.calls("db.insert_user")
    assert call.error == {"type": "EmailTaken", "message": "x"} and not call.ok


async def test_a_callable_script_computes_the_answer_from_the_arguments() -> None:
    async def insert_user(name: str, email: str) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"id": 9, "name": name.upper(), "email": email}

    client = GatiTestClient(make_shop(), modules={
        "db": {"insert_user": insert_user}, "mail": {"send_welcome": [None]}})

    result = await client.post("/users", json={"name": "ada", "email": "a@b.c"})

    assert result.json() == {"id": 9, "name": "ADA", "email": "a@b.c"}


async def test_returns_answers_a_list_literally() -> None:
    rows = [{"id": 1}, {"id": 2}]
    client = GatiTestClient(make_shop(), modules={"db": {"list_users": returns(rows)}})

    first = await client.get("/users", query={"limit": 2})
    second = await client.get("/users?limit=5")

    assert first.json() == second.json() == {"users": rows}
    assert [c.args for c in first.calls()] + [c.args for c in second.calls()] == [(2,), (5,)]


async def test_an_unscripted_method_raises_naming_module_and_method() -> None:
    client = GatiTestClient(make_shop(), modules={"db": {"insert_user": ADA}})

    # mail is registered but not scripted: calling it is the test's bug, and it surfaces
    # in the test rather than as an anonymous 500.
    with pytest.raises(UnscriptedCall, match=r"mail\.send_welcome\(\) was called but is not "
                       r"scripted") as info:
        await client.post("/users", json={"name": "Ada", "email": "ada@example.com"})
    assert "modules={'mail': {'send_welcome': <answer>}}" in str(info.value)


async def test_an_unscripted_call_is_raised_even_when_the_handler_swallows_it() -> None:
    app = App("quiet")
    app.module("db")(dict)

    @app.get("/")
    async def swallow(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        try:
            await gctx.modules.db.missing()
        except Exception:
            res.json("fine")

    with pytest.raises(UnscriptedCall, match=r"db\.missing"):
        await GatiTestClient(app, modules={"db": {}}).get("/")
    result = await GatiTestClient(app, raise_script_errors=False).get("/")
    assert result.json() == "fine"
    assert result.calls()[0].error == {
        "type": "UnscriptedCall", "message": result.calls()[0].error["message"]}  # type: ignore[index]


async def test_registered_modules_left_out_fail_only_when_called() -> None:
    client = GatiTestClient(make_shop(), modules={"db": {"get_user": ADA}})

    assert (await client.get("/users/1")).status == 200  # mail registered, never called


def test_a_module_the_app_does_not_register_is_a_typo() -> None:
    with pytest.raises(ScriptError, match=r"registers no module named 'dbb' \(registered: db, "
                       r"mail\)"):
        GatiTestClient(make_shop(), modules={"dbb": {}})


async def test_a_module_object_is_used_as_is() -> None:
    class FakeDB:
        def __init__(self) -> None:
            self.rows: dict[int, dict[str, Any]] = {}

        async def insert_user(self, name: str, email: str) -> dict[str, Any]:
            row = {"id": len(self.rows) + 1, "name": name, "email": email}
            self.rows[row["id"]] = row  # type: ignore[index]
            return row

        def get_user(self, user_id: int) -> dict[str, Any] | None:  # sync is fine too
            return self.rows.get(user_id)

    db = FakeDB()
    client = GatiTestClient(make_shop(), modules={"db": db, "mail": ScriptedModule(
        "mail", {"send_welcome": None})})

    await client.post("/users", json={"name": "Ada", "email": "a@x.io"})
    result = await client.get("/users/1")

    assert result.json() == {"id": 1, "name": "Ada", "email": "a@x.io"}
    assert client.modules["db"] is db


async def test_a_handler_exception_is_raised_in_the_test_by_default() -> None:
    with pytest.raises(RuntimeError, match="kaboom"):
        await GatiTestClient(make_shop()).get("/boom")


async def test_the_opaque_500_can_be_asserted_with_raise_server_errors_off() -> None:
    result = await GatiTestClient(make_shop(), raise_server_errors=False).get("/boom")

    assert result.status == 500
    assert result.error is not None and result.error["code"] == "internal_error"
    assert "kaboom" not in result.text  # the client learns nothing of the internals
    assert result.failure is not None and result.failure["type"] == "RuntimeError"


async def test_routing_errors_come_back_as_responses() -> None:
    client = GatiTestClient(make_shop())

    assert (await client.get("/nope")).status == 404
    not_allowed = await client.request("DELETE", "/users")
    assert not_allowed.status == 405 and not_allowed.headers["allow"] == "GET, POST"
    bad = await client.post("/users", content=b"{nope",
                            headers={"content-type": "application/json"})
    assert bad.status == 400 and bad.error_code == "invalid_json"


async def test_a_slow_module_object_hits_the_handler_timeout_and_answers_504() -> None:
    app = App("slow")
    app.module("db")(dict)
    cleaned: list[str] = []

    @app.cleanup
    async def note(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        cleaned.append(req.path)

    @app.get("/slow", timeout_s=0.05)
    async def slow(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.json(await gctx.modules.db.fetch())

    async def fetch() -> str:
        await asyncio.sleep(5)
        return "late"

    result = await GatiTestClient(app, modules={"db": {"fetch": fetch}}).get("/slow")

    assert result.status == 504 and result.error_code == "handler_timeout"
    assert "timeout" in result.stages and cleaned == ["/slow"]


async def test_secrets_reach_the_handler_but_never_the_record() -> None:
    app = App("vault")
    app.module("api")(dict)

    @app.get("/call")
    async def call(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        key = gctx.secrets.get("API_KEY").reveal()
        lctx.log.info(f"using {key}")
        res.json({"echo": await gctx.modules.api.ping(key), "region": gctx.config["region"]})

    client = GatiTestClient(app, modules={"api": {"ping": lambda key: len(key)}},
                            secrets={"API_KEY": "s3cr3t-value"}, config={"region": "eu"})
    result = await client.get("/call")

    assert result.json() == {"echo": 12, "region": "eu"}
    assert result.calls()[0].args == ("[REDACTED]",)
    assert result.log_lines[0].message == "using [REDACTED]"
    assert all("s3cr3t-value" not in (e.detail or "") for e in result.events)


async def test_config_is_read_only_for_handlers() -> None:
    app = App("cfg", config={"a": 1})

    @app.get("/")
    async def mutate(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        gctx.config["a"] = 2  # type: ignore[index]

    result = await GatiTestClient(app, config={"b": 2}, raise_server_errors=False).get("/")
    assert result.status == 500
    assert result.failure is not None and result.failure["type"] == "TypeError"


async def test_text_and_raw_bodies_and_repeated_headers() -> None:
    app = App("echo")

    @app.post("/echo")
    async def echo(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.header("x-a", "1").header("x-a", "2").text(f"{type(req.body).__name__}:{req.body!r}")

    client = GatiTestClient(app)
    text = await client.post("/echo", content="héllo")
    raw = await client.post("/echo", content=b"\x00\x01")

    assert text.text == "str:'héllo'"
    assert raw.text == "bytes:b'\\x00\\x01'"
    assert text.headers["x-a"] == "1, 2" and text.raw_headers.count(("x-a", "1")) == 1
    with pytest.raises(ValueError, match="not JSON"):
        text.json()
    with pytest.raises(ValueError, match="either json= or content="):
        await client.post("/echo", json={}, content="x")


def test_the_sync_facade_serves_plain_tests() -> None:
    client = GatiTestClient(make_shop(), modules={"db": {"get_user": [ADA, None]}})

    with client.sync() as sync:
        assert sync.get("/users/1").json() == ADA
        assert sync.get("/users/2").status == 404


async def test_a_ready_made_envelope_can_be_sent() -> None:
    client = GatiTestClient(make_shop(), modules={"db": {"get_user": ADA}})
    first = await client.get("/users/1", request_id="fixed-id")

    assert first.request_id == "fixed-id"
    assert {e.request_id for e in first.events} == {"fixed-id"}
    assert json.loads(first.body) == ADA


async def test_the_first_script_error_is_reported_not_its_consequences() -> None:
    app = App("undo")
    app.module("db")(dict)
    app.module("mail")(dict)

    @app.post("/")
    async def make(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        lctx.compensate(gctx.modules.db.undo)  # unscripted too, but only a consequence
        await gctx.modules.mail.send()

    with pytest.raises(UnscriptedCall, match=r"mail\.send\(\)"):
        await GatiTestClient(app).post("/")
