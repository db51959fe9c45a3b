"""Hook semantics a handler author relies on: catch, short-circuit, timeouts, retries."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gati import App, GlobalContext, LocalContext, Request, RequestError, Response
from gati.core.context import ModuleEntry, Services
from gati.core.effects import CallPolicy
from gati.core.envelopes import RequestEnvelope
from gati.core.hooks import hook
from gati.core.pipeline import Outcome, Pipeline
from gati.core.ports import SystemClock
from gati.errors import AppError


def _env(path: str, method: str = "GET") -> RequestEnvelope:
    now = SystemClock().now_us()
    return RequestEnvelope(
        request_id="r1",
        gateway_id="g",
        reply_topic="t",
        reply_partition=0,
        received_at_us=now,
        deadline_at_us=now + 30_000_000,
        method=method,
        path=path,
        query="",
        headers=(),
        body=b"",
    )


async def _run(app: App, path: str, modules: dict[str, ModuleEntry] | None = None) -> Outcome:
    services = Services(modules=modules or {}, config={})
    return await Pipeline(app, services, clock=SystemClock()).process(_env(path))


def _body(outcome: Outcome) -> Any:
    return json.loads(outcome.response.body)


async def test_a_catch_hook_turns_an_exception_into_a_response() -> None:
    app = App("c")

    @app.catch
    async def to_418(
        err: Exception, req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext
    ) -> None:
        if isinstance(err, KeyError):
            res.status(418).json({"handled": str(err)})

    @app.get("/k")
    async def boom(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        raise KeyError("missing")

    outcome = await _run(app, "/k")
    assert outcome.response.status == 418
    assert _body(outcome) == {"handled": "'missing'"}
    stages = [e.stage for e in outcome.events]
    assert stages[-1] == "responded" and "failed" in stages


async def test_a_catch_hook_that_does_not_answer_leaves_the_error() -> None:
    app = App("c")
    seen: list[str] = []

    @app.catch
    def observe(
        err: Exception, req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext
    ) -> None:
        seen.append(type(err).__name__)

    @app.get("/k")
    async def boom(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        raise RequestError("nope", code="nope", status=409)

    outcome = await _run(app, "/k")
    assert outcome.response.status == 409 and _body(outcome)["error"]["code"] == "nope"
    assert seen == ["RequestError"]


async def test_the_innermost_catch_hook_answers_first() -> None:
    app = App("c")

    @app.catch
    async def outer(
        err: Exception, req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext
    ) -> None:
        res.status(500).json({"by": "global"})

    async def inner(
        err: Exception, req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext
    ) -> None:
        res.status(503).json({"by": "route"})

    @app.get("/k", catch=[inner])
    async def boom(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        raise ValueError("x")

    outcome = await _run(app, "/k")
    assert (outcome.response.status, _body(outcome)) == (503, {"by": "route"})


async def test_a_before_hook_that_answers_skips_the_handler() -> None:
    app = App("c")
    called: list[str] = []

    @app.before
    async def cached(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.json({"cached": True})

    @app.get("/h")
    async def handler(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        called.append("handler")

    outcome = await _run(app, "/h")
    assert _body(outcome) == {"cached": True} and called == []
    assert "handler_start" not in [e.stage for e in outcome.events]


async def test_a_slow_hook_times_out_and_is_retried() -> None:
    app = App("c")
    attempts: list[int] = []

    async def flaky(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            await asyncio.sleep(10)

    @app.get("/h", before=[hook(flaky, timeout_s=0.05, retries=2)])
    async def handler(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.json({"ok": True})

    outcome = await _run(app, "/h")
    assert outcome.response.status == 200 and len(attempts) == 3
    errors = [json.loads(e.detail or "{}") for e in outcome.events if e.stage == "hook_error"]
    assert [e["retry"] for e in errors] == [True, True]


async def test_a_hook_out_of_retries_fails_the_request_with_504() -> None:
    app = App("c")

    async def stuck(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        await asyncio.sleep(10)

    @app.get("/h", before=[hook(stuck, timeout_s=0.02, retries=1)])
    async def handler(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.json({})

    outcome = await _run(app, "/h")
    assert outcome.response.status == 504 and _body(outcome)["error"]["code"] == "hook_timeout"


async def test_a_deliberate_error_in_a_hook_is_not_retried() -> None:
    app = App("c")
    attempts: list[int] = []

    async def deny(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        attempts.append(1)
        raise RequestError("no", code="unauthorized", status=401)

    @app.get("/h", before=[hook(deny, retries=3)])
    async def handler(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.json({})

    assert (await _run(app, "/h")).response.status == 401
    assert attempts == [1]


def test_hooks_with_the_wrong_shape_are_refused_at_registration() -> None:
    app = App("c")
    with pytest.raises(AppError, match=r"must take \(req, res, lctx, gctx\)"):
        app.before(lambda req, res: None)
    with pytest.raises(AppError, match=r"\(err, req, res, lctx, gctx\)"):
        app.catch(lambda req, res, lctx, gctx: None)


class Flaky:
    def __init__(self, fail_times: int, exc: type[BaseException]) -> None:
        self.fail_times = fail_times
        self.exc = exc
        self.calls = 0

    async def get(self, key: str) -> str:
        self.calls += 1
        if self.calls <= self.fail_times:
            raise self.exc("transient")
        return key * 2


async def test_module_calls_retry_transient_errors_and_record_the_attempts() -> None:
    app = App("m")
    flaky = Flaky(2, ConnectionError)

    @app.get("/m")
    async def handler(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.json({"v": await gctx.modules.store.get("ab")})

    policy = CallPolicy(timeout_s=1, retries=2, backoff_s=0)
    outcome = await _run(app, "/m", {"store": ModuleEntry(flaky, policy)})
    assert _body(outcome) == {"v": "abab"}
    effect = [json.loads(e.detail or "") for e in outcome.events if e.stage == "effect"]
    assert [(e["method"], e["attempts"], e["result"]) for e in effect] == [("get", 3, "abab")]


async def test_module_domain_errors_are_not_retried_and_are_recorded() -> None:
    app = App("m")
    flaky = Flaky(5, LookupError)

    @app.get("/m")
    async def handler(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        await gctx.modules.store.get("ab")

    outcome = await _run(app, "/m", {"store": ModuleEntry(flaky, CallPolicy(retries=3))})
    assert outcome.response.status == 500 and flaky.calls == 1
    effect = next(json.loads(e.detail or "") for e in outcome.events if e.stage == "effect")
    assert effect["error"] == {"type": "LookupError", "message": "transient",
                               "class": "builtins.LookupError"}


async def test_a_module_call_past_its_timeout_is_a_504() -> None:
    class Slow:
        async def wait(self) -> None:
            await asyncio.sleep(10)

    app = App("m")

    @app.get("/m")
    async def handler(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        await gctx.modules.slow.wait()

    outcome = await _run(app, "/m", {"slow": ModuleEntry(Slow(), CallPolicy(timeout_s=0.02))})
    assert outcome.response.status == 504
    assert _body(outcome)["error"]["code"] == "module_timeout"


async def test_request_scoped_publish_reaches_only_this_request() -> None:
    app = App("p")
    got: list[Any] = []

    @app.get("/p")
    async def handler(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        lctx.subscribe("saved", got.append)
        delivered = await lctx.publish("saved", {"id": 1})
        none = await lctx.publish("other", {"id": 2})
        await gctx.publish("user.saved", {"id": 1})
        res.json({"delivered": delivered, "none": none})

    outcome = await _run(app, "/p")
    assert _body(outcome) == {"delivered": 1, "none": 0}
    assert got == [{"id": 1}]
    assert [(p.topic, p.payload) for p in outcome.publications] == [("user.saved", {"id": 1})]


async def test_unknown_module_is_a_clear_error() -> None:
    app = App("m")

    @app.get("/m")
    async def handler(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        await gctx.modules.nothere.call()

    outcome = await _run(app, "/m")
    assert outcome.response.status == 500
    failed = next(json.loads(e.detail or "") for e in outcome.events if e.stage == "failed")
    assert "no module named 'nothere'" in failed["message"]
