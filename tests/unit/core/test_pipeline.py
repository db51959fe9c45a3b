"""Pipeline: what a request becomes (response + lifecycle events) on every path."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

from gati import App, RequestError
from gati.core.context import Services
from gati.core.envelopes import Rejection, RequestEnvelope
from gati.core.pipeline import Outcome, Pipeline

MakeEnvelope = Callable[..., RequestEnvelope]


def pipeline(app: App, clock: Any) -> Pipeline:
    return Pipeline(app, Services(modules={}, config={}), clock=clock, worker_id="wk-1")


def assert_well_formed(outcome: Outcome, env: RequestEnvelope) -> None:
    """Every outcome: seq 0..n-1, one ``responded`` and it is last, matching the response."""
    events = outcome.events
    assert [e.seq for e in events] == list(range(len(events)))
    assert all(e.request_id == env.request_id for e in events)
    assert [e.stage for e in events].count("responded") == 1
    assert events[-1].stage == "responded"
    assert events[-1].status == outcome.response.status
    assert events[0].stage == "received"
    assert outcome.response.request_id == env.request_id


def stages(outcome: Outcome) -> list[str]:
    return [e.stage for e in outcome.events]


def error_of(outcome: Outcome) -> dict[str, Any]:
    assert ("content-type", "application/json") in outcome.response.headers
    body = json.loads(outcome.response.body)
    return dict(body["error"])


async def test_success_path_records_each_stage_and_returns_the_handler_response(
    clock: Any, make_envelope: MakeEnvelope
) -> None:
    app = App("shop")

    @app.get("/users/{id:int}", handler_id="users.get")
    async def get_user(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        res.status(200).header("x-seen", "yes").json({"id": req.params["id"]})

    env = make_envelope(path="/users/7")
    out = await pipeline(app, clock).process(env)

    assert_well_formed(out, env)
    assert stages(out) == ["received", "routed", "handler_start", "handler_end", "responded"]
    assert out.response.status == 200
    assert json.loads(out.response.body) == {"id": 7}
    assert ("x-seen", "yes") in out.response.headers
    assert out.response.handler_id == "users.get"
    assert {e.worker_id for e in out.events} == {"wk-1"}
    assert out.events[1].handler_id == "users.get"


async def test_unknown_path_is_404(clock: Any, make_envelope: MakeEnvelope) -> None:
    env = make_envelope(path="/nope")
    out = await pipeline(App("shop"), clock).process(env)

    assert_well_formed(out, env)
    assert out.response.status == 404
    assert error_of(out)["code"] == "not_found"
    assert error_of(out)["request_id"] == env.request_id


async def test_wrong_method_is_405_with_an_allow_header(
    clock: Any, make_envelope: MakeEnvelope
) -> None:
    app = App("shop")

    @app.get("/items")
    async def list_items(req: Any, res: Any, lctx: Any, gctx: Any) -> None: ...

    @app.put("/items")
    async def replace_items(req: Any, res: Any, lctx: Any, gctx: Any) -> None: ...

    env = make_envelope(method="DELETE", path="/items")
    out = await pipeline(app, clock).process(env)

    assert_well_formed(out, env)
    assert out.response.status == 405
    assert ("allow", "GET, PUT") in out.response.headers
    assert error_of(out)["code"] == "method_not_allowed"


async def test_invalid_json_body_is_400_and_the_handler_is_not_called(
    clock: Any, make_envelope: MakeEnvelope
) -> None:
    app = App("shop")
    called = []

    @app.post("/users")
    async def create(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        called.append(req)

    env = make_envelope(method="POST", path="/users", body=b"{not json",
                        headers=(("content-type", "application/json"),))
    out = await pipeline(app, clock).process(env)

    assert_well_formed(out, env)
    assert out.response.status == 400
    assert error_of(out)["code"] == "invalid_json"
    assert called == []


async def test_json_body_is_parsed_for_the_handler(clock: Any, make_envelope: MakeEnvelope) -> None:
    app = App("shop")

    @app.post("/echo")
    async def echo(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        res.status(201).json({"got": req.body, "q": req.query_one("q")})

    env = make_envelope(method="POST", path="/echo", query="q=1", body=b'{"a": [1, 2]}',
                        headers=(("content-type", "application/json; charset=utf-8"),))
    out = await pipeline(app, clock).process(env)

    assert out.response.status == 201
    assert json.loads(out.response.body) == {"got": {"a": [1, 2]}, "q": "1"}


async def test_request_error_from_the_handler_keeps_its_status_and_code(
    clock: Any, make_envelope: MakeEnvelope
) -> None:
    app = App("shop")

    @app.post("/users")
    async def create(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        raise RequestError("ada@example.com is already registered", code="email_taken",
                           status=409)

    env = make_envelope(method="POST", path="/users")
    out = await pipeline(app, clock).process(env)

    assert_well_formed(out, env)
    assert out.response.status == 409
    assert error_of(out)["code"] == "email_taken"
    assert error_of(out)["message"] == "ada@example.com is already registered"
    assert out.events[-1].error_code == "email_taken"


async def test_an_unexpected_exception_is_500_without_leaking_its_text(
    clock: Any, make_envelope: MakeEnvelope
) -> None:
    app = App("shop")

    @app.get("/boom")
    async def boom(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        raise ValueError("secret-ish detail")

    env = make_envelope(path="/boom")
    out = await pipeline(app, clock).process(env)

    assert_well_formed(out, env)
    assert out.response.status == 500
    assert error_of(out)["code"] == "internal_error"
    assert b"secret-ish" not in out.response.body
    assert b"ValueError" not in out.response.body


async def test_an_unexpected_exception_is_kept_in_the_failed_event_detail(
    clock: Any, make_envelope: MakeEnvelope
) -> None:
    app = App("shop")

    @app.get("/boom")
    async def boom(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        raise ValueError("secret-ish detail")

    out = await pipeline(app, clock).process(make_envelope(path="/boom"))

    failed = [e for e in out.events if e.stage == "failed"]
    assert len(failed) == 1
    detail = json.loads(failed[0].detail or "{}")
    assert detail["type"] == "ValueError"
    assert detail["message"] == "secret-ish detail"


async def test_a_handler_past_its_timeout_is_504(clock: Any, make_envelope: MakeEnvelope) -> None:
    app = App("shop")
    started = asyncio.Event()

    @app.get("/slow", timeout_s=0.05)
    async def slow(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        started.set()
        await asyncio.Event().wait()  # never set: only the timeout ends this

    env = make_envelope(path="/slow")
    out = await pipeline(app, clock).process(env)

    assert started.is_set()
    assert_well_formed(out, env)
    assert out.response.status == 504
    assert error_of(out)["code"] == "handler_timeout"


async def test_an_envelope_past_its_deadline_is_504_and_never_handled(
    clock: Any, make_envelope: MakeEnvelope
) -> None:
    app = App("shop")
    called = []

    @app.get("/x")
    async def handler(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        called.append(req)

    env = make_envelope(path="/x", deadline_at_us=clock.now - 1)
    out = await pipeline(app, clock).process(env)

    assert_well_formed(out, env)
    assert out.response.status == 504
    assert error_of(out)["code"] == "deadline_exceeded"
    assert "expired" in stages(out)
    assert called == []


async def test_a_rejected_envelope_answers_with_the_rejection_and_is_never_handled(
    clock: Any, make_envelope: MakeEnvelope
) -> None:
    app = App("shop")
    called = []

    @app.post("/upload")
    async def upload(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        called.append(req)

    env = make_envelope(method="POST", path="/upload",
                        rejection=Rejection(413, "body_too_large", "the body is over 1 MiB"))
    out = await pipeline(app, clock).process(env)

    assert_well_formed(out, env)
    assert out.response.status == 413
    assert error_of(out)["code"] == "body_too_large"
    assert error_of(out)["message"] == "the body is over 1 MiB"
    assert "rejected" in stages(out)
    assert called == []


async def test_a_sync_handler_runs_off_the_event_loop(
    clock: Any, make_envelope: MakeEnvelope
) -> None:
    app = App("shop")
    loop_thread = threading.get_ident()

    @app.get("/sync")
    def sync_handler(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        res.json({"same_thread": threading.get_ident() == loop_thread})

    env = make_envelope(path="/sync")
    out = await pipeline(app, clock).process(env)

    assert_well_formed(out, env)
    assert out.response.status == 200
    assert json.loads(out.response.body) == {"same_thread": False}


async def test_a_callable_object_with_async_call_is_awaited(
    clock: Any, make_envelope: MakeEnvelope
) -> None:
    class Handler:
        async def __call__(self, req: Any, res: Any, lctx: Any, gctx: Any) -> None:
            res.json({"ok": True})

    app = App("shop")
    app.get("/obj", handler_id="obj")(Handler())

    out = await pipeline(app, clock).process(make_envelope(path="/obj"))

    assert out.response.status == 200
    assert json.loads(out.response.body) == {"ok": True}


async def test_a_handler_that_sends_nothing_answers_204(
    clock: Any, make_envelope: MakeEnvelope
) -> None:
    app = App("shop")

    @app.delete("/items/{id}")
    async def delete(req: Any, res: Any, lctx: Any, gctx: Any) -> None: ...

    env = make_envelope(method="DELETE", path="/items/1")
    out = await pipeline(app, clock).process(env)

    assert_well_formed(out, env)
    assert out.response.status == 204
    assert out.response.body == b""


async def test_a_handler_that_sets_a_status_but_no_body_keeps_its_status(
    clock: Any, make_envelope: MakeEnvelope
) -> None:
    app = App("shop")

    @app.post("/jobs")
    async def accept(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        res.status(202)

    out = await pipeline(app, clock).process(make_envelope(method="POST", path="/jobs"))
    assert out.response.status == 202
    assert out.response.body == b""


async def test_sending_the_response_twice_is_a_500_and_the_first_body_is_not_leaked(
    clock: Any, make_envelope: MakeEnvelope
) -> None:
    app = App("shop")

    @app.get("/twice")
    async def twice(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        res.json({"first": "private"})
        res.json({"second": True})

    env = make_envelope(path="/twice")
    out = await pipeline(app, clock).process(env)

    assert_well_formed(out, env)
    assert out.response.status == 500
    assert error_of(out)["code"] == "response_already_sent"
    assert b"private" not in out.response.body


async def test_lctx_state_is_isolated_between_concurrent_requests(
    clock: Any, make_envelope: MakeEnvelope
) -> None:
    app = App("shop")
    all_started = asyncio.Event()
    n = 50
    started = 0

    @app.get("/me/{name}")
    async def me(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
        nonlocal started
        assert lctx.get("name") is None
        lctx.set("name", req.params["name"])
        started += 1
        if started == n:
            all_started.set()
        await all_started.wait()  # every request has written its lctx before any reads
        res.json({"name": lctx.get("name"), "keys": lctx.keys(),
                  "request_id": lctx.meta.request_id})

    p = pipeline(app, clock)
    envs = [make_envelope(path=f"/me/user{i}") for i in range(n)]
    outs = await asyncio.gather(*(p.process(env) for env in envs))

    for i, (env, out) in enumerate(zip(envs, outs, strict=True)):
        assert out.response.status == 200
        assert json.loads(out.response.body) == {
            "name": f"user{i}", "keys": ["name"], "request_id": env.request_id,
        }
