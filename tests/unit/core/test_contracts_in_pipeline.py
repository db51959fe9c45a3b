"""Request and response types declared on a handler are enforced by the pipeline."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated

import pytest

from gati import App, GlobalContext, LocalContext, Request, Response
from gati.core.context import Services
from gati.core.envelopes import RequestEnvelope
from gati.core.pipeline import Outcome, Pipeline
from gati.core.ports import SystemClock
from gati.errors import AppError
from gati.observability import PrometheusMetrics
from gati.types import Format, MinLen
from gati.types import Secret as SecretField


@dataclass
class CreateUser:
    name: Annotated[str, MinLen(2)]
    email: Annotated[str, Format("email")]


@dataclass
class User:
    id: int
    name: str
    email: str


def _app(result: object, **options: str) -> App:
    app = App("typed", **options)

    @app.post("/users", request=CreateUser, response=User)
    async def create(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        assert isinstance(req.body, CreateUser)
        res.status(201).json(
            result if result is not None else User(id=1, name=req.body.name, email=req.body.email)
        )

    return app


async def _post(app: App, body: object) -> Outcome:
    now = SystemClock().now_us()
    env = RequestEnvelope(
        request_id="r",
        gateway_id="g",
        reply_topic="t",
        reply_partition=0,
        received_at_us=now,
        deadline_at_us=now + 10_000_000,
        method="POST",
        path="/users",
        query="",
        headers=(("content-type", "application/json"),),
        body=json.dumps(body).encode(),
    )
    return await Pipeline(app, Services(modules={}, config={}), clock=SystemClock()).process(env)


async def test_a_valid_body_reaches_the_handler_as_the_declared_type() -> None:
    outcome = await _post(_app(None), {"name": "Ada", "email": "ada@example.com"})
    assert outcome.response.status == 201
    assert json.loads(outcome.response.body) == {"id": 1, "name": "Ada", "email": "ada@example.com"}


async def test_every_invalid_field_is_reported_with_path_expected_and_actual() -> None:
    outcome = await _post(_app(None), {"name": "A", "email": "nope"})
    assert outcome.response.status == 400
    error = json.loads(outcome.response.body)["error"]
    assert error["code"] == "validation_failed"
    assert {i["path"] for i in error["issues"]} == {"$.name", "$.email"}
    assert all(i["expected"] and "actual" in i for i in error["issues"])
    assert "handler_start" not in [e.stage for e in outcome.events]


async def test_a_response_that_breaks_its_contract_is_a_500() -> None:
    outcome = await _post(
        _app({"id": "not-an-int", "name": "x", "email": "x@y.z"}),
        {"name": "Ada", "email": "ada@example.com"},
    )
    assert outcome.response.status == 500
    error = json.loads(outcome.response.body)["error"]
    assert error["code"] == "response_invalid"
    assert [i["path"] for i in error["issues"]] == ["$.id"]


async def test_warn_mode_sends_a_broken_response_and_records_the_warning() -> None:
    broken = {"id": "not-an-int", "name": "x", "email": "x@y.z"}
    app = _app(broken, invalid_response="warn")
    metrics = PrometheusMetrics()
    now = SystemClock().now_us()
    env = RequestEnvelope("r", "g", "t", 0, now, now + 10_000_000, "POST", "/users", "",
                          (("content-type", "application/json"),),
                          b'{"name": "Ada", "email": "ada@example.com"}')
    services = Services(modules={}, config={}, metrics=metrics)
    outcome = await Pipeline(app, services, clock=SystemClock()).process(env)
    assert outcome.response.status == 201
    assert json.loads(outcome.response.body) == broken
    warnings = [json.loads(e.detail or "{}") for e in outcome.events if e.stage == "log"]
    assert [(w["level"], w["code"], [i["path"] for i in w["issues"]]) for w in warnings] == [
        ("warning", "response_invalid", ["$.id"])]
    text = metrics.exposition("")[0].decode()
    handler = next(iter(app.families))
    assert f'gati_invalid_responses_total{{handler="{handler}"}} 1.0' in text


def test_invalid_response_must_be_error_or_warn() -> None:
    with pytest.raises(AppError, match="invalid_response must be 'error' or 'warn'"):
        App("x", invalid_response="ignore")
    app = App("x")
    with pytest.raises(AppError, match="GET /a: invalid_response"):
        app.get("/a", invalid_response="loud")


def test_an_unsupported_type_fails_at_registration_naming_the_field() -> None:
    @dataclass
    class Bad:
        value: complex

    app = App("bad")
    with pytest.raises(AppError, match=r"Bad\.value"):

        @app.post("/bad", request=Bad)
        async def bad(
            req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext
        ) -> None: ...


async def test_a_field_typed_secret_is_scrubbed_from_the_record() -> None:
    @dataclass
    class Login:
        user: str
        password: Annotated[str, SecretField()]

    app = App("auth")

    @app.post("/users", request=Login)
    async def login(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        lctx.log.info("login", password=req.body.password)
        raise ValueError(f"bad password {req.body.password}")

    outcome = await _post(app, {"user": "ada", "password": "hunter2-secret"})
    assert outcome.response.status == 500
    recorded = " ".join(e.detail or "" for e in outcome.events)
    assert "hunter2-secret" not in recorded and "[REDACTED" in recorded


@dataclass
class Tree:
    children: list[Tree]


async def test_a_body_nested_too_deeply_is_a_400_not_a_crashed_worker() -> None:
    app = App("deep")

    @app.post("/tree", request=Tree)
    async def tree(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.json({"ok": True})

    @app.post("/anything")
    async def anything(req: Request, res: Response, lctx: LocalContext,
                       gctx: GlobalContext) -> None:
        res.json({"ok": True})

    now = SystemClock().now_us()
    pipeline = Pipeline(app, Services(modules={}, config={}), clock=SystemClock())
    too_deep_to_parse = b"[" * 100_000 + b"]" * 100_000
    for path in ("/anything", "/tree"):
        env = RequestEnvelope("r", "g", "t", 0, now, now + 10_000_000, "POST", path, "",
                              (("content-type", "application/json"),), too_deep_to_parse)
        outcome = await pipeline.process(env)
        assert outcome.response.status == 400, (path, outcome.response.body[:200])
        assert json.loads(outcome.response.body)["error"]["code"] == "invalid_json"
    # Deep but parseable (Python's parser stops near 500 levels of this), it is served.
    deep = b'{"children": [' * 300 + b"]}" * 300
    env = RequestEnvelope("r", "g", "t", 0, now, now + 10_000_000, "POST", "/tree", "",
                          (("content-type", "application/json"),), deep)
    assert (await pipeline.process(env)).response.status == 200
