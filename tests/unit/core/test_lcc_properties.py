"""Properties of the Local Context Controller, for any mix of hooks (hypothesis)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gati import App, GlobalContext, LocalContext, Request, Response
from gati.core.context import Services
from gati.core.envelopes import RequestEnvelope
from gati.core.pipeline import Pipeline
from gati.core.ports import SystemClock

LEVELS = ("global", "route", "local")
hook_specs = st.lists(
    st.tuples(st.sampled_from(LEVELS), st.sampled_from(("before", "after")), st.booleans()),
    max_size=12,
)


def _envelope(path: str, n: int = 0) -> RequestEnvelope:
    now = SystemClock().now_us()
    return RequestEnvelope(
        request_id=f"r{n}",
        gateway_id="g",
        reply_topic="t",
        reply_partition=0,
        received_at_us=now,
        deadline_at_us=now + 30_000_000,
        method="GET",
        path=path,
        query="",
        headers=(),
        body=b"",
    )


def _make_hook(name: str, is_async: bool) -> Callable[..., Any]:
    if is_async:

        async def ahook(
            req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext
        ) -> None:
            lctx.get("trail").append(name)

        ahook.__qualname__ = name
        return ahook

    def shook(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        lctx.get("trail").append(name)

    shook.__qualname__ = name
    return shook


def _run(app: App, env: RequestEnvelope) -> Any:
    pipeline = Pipeline(app, Services(modules={}, config={}), clock=SystemClock())
    return asyncio.run(pipeline.process(env))


@settings(max_examples=60, deadline=None)
@given(hook_specs)
def test_before_runs_global_route_local_and_after_runs_the_exact_reverse(
    specs: list[tuple[str, str, bool]],
) -> None:
    app = App("props")
    names = [f"{level}-{kind}-{i}" for i, (level, kind, _) in enumerate(specs)]
    route: dict[str, list[Callable[..., Any]]] = {"before": [], "after": []}
    local: list[tuple[str, Callable[..., Any]]] = []
    trail: list[str] = []

    async def seed(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        lctx.set("trail", trail)
        for kind, fn in local:
            getattr(lctx, kind)(fn)

    app.before(seed)
    for name, (level, kind, is_async) in zip(names, specs, strict=True):
        fn = _make_hook(name, is_async)
        if level == "global":
            getattr(app, kind)(fn)
        elif level == "route":
            route[kind].append(fn)
        else:
            local.append((kind, fn))

    @app.get("/x", before=route["before"], after=route["after"])
    async def handler(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        lctx.get("trail").append("handler")
        res.json({})

    outcome = _run(app, _envelope("/x"))
    assert outcome.response.status == 200

    def expected(kind: str) -> list[str]:
        out = []
        for level in LEVELS:
            out += [
                n for n, (lv, k, _) in zip(names, specs, strict=True) if lv == level and k == kind
            ]
        return out

    assert trail == [*expected("before"), "handler", *list(reversed(expected("after")))]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=8))
def test_compensations_run_newest_first_on_failure(names: list[str]) -> None:
    app = App("comp")
    ran: list[str] = []

    @app.get("/fail")
    async def fail(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        for i, name in enumerate(names):
            lctx.compensate(ran.append, f"{i}:{name}", name=f"undo-{i}")
        raise RuntimeError("boom")

    outcome = _run(app, _envelope("/fail"))
    assert outcome.response.status == 500
    assert ran == [f"{i}:{n}" for i, n in reversed(list(enumerate(names)))]
    recorded = [e for e in outcome.events if e.stage == "compensation"]
    assert len(recorded) == len(names)


def test_compensations_do_not_run_on_success() -> None:
    app = App("comp-ok")
    ran: list[str] = []

    @app.get("/ok")
    async def ok(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        lctx.compensate(ran.append, "undo")
        res.json({})

    assert _run(app, _envelope("/ok")).response.status == 200
    assert ran == []


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=2, max_size=40))
def test_lctx_state_is_isolated_under_concurrency(values: list[int]) -> None:
    app = App("iso")

    @app.get("/v/{n:int}")
    async def echo(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        assert lctx.get("n") is None
        lctx.set("n", req.params["n"])
        # Yield in a random pattern so requests interleave.
        for _ in range(random.randint(0, 3)):
            await asyncio.sleep(0)
        res.json({"n": lctx.get("n")})

    async def main() -> list[Any]:
        pipeline = Pipeline(app, Services(modules={}, config={}), clock=SystemClock())
        return await asyncio.gather(
            *[pipeline.process(_envelope(f"/v/{v}", i)) for i, v in enumerate(values)]
        )

    outcomes = asyncio.run(main())
    assert [o.response.body for o in outcomes] == [f'{{"n":{v}}}'.encode() for v in values]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(st.text(min_size=1, max_size=6), json_values, max_size=6),
    st.integers(min_value=0, max_value=3),
    st.lists(st.booleans(), max_size=4),
)
def test_snapshot_then_restore_reproduces_state_tasks_and_hook_index(
    state: dict[str, Any], extra_hooks: int, task_outcomes: list[bool]
) -> None:
    app = App("snap")
    seen: dict[str, Any] = {}

    def counting(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        return None

    for _ in range(extra_hooks):
        app.before(counting)

    @app.get("/s")
    async def snap(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        for key, value in state.items():
            lctx.set(key, value)
        tasks = []
        for i, ok in enumerate(task_outcomes):

            async def work(ok: bool = ok) -> None:
                if not ok:
                    raise ValueError("task failed")

            tasks.append(lctx.spawn(work(), name=f"t{i}"))
        await asyncio.gather(*tasks, return_exceptions=True)
        blocker = lctx.spawn(asyncio.Event().wait(), name="pending")
        await asyncio.sleep(0)
        taken = lctx.snapshot("test")
        lctx.clean()
        lctx.set("garbage", 1)
        lctx.hook_index = 99
        lctx.restore(taken)
        seen["snapshot"] = taken
        seen["state"] = {k: lctx.get(k) for k in lctx.keys()}  # noqa: SIM118 (not a dict)
        seen["index"] = lctx.hook_index
        blocker.cancel()
        res.json({})

    assert _run(app, _envelope("/s")).response.status == 200
    taken = seen["snapshot"]
    assert seen["state"] == state
    assert seen["index"] == extra_hooks == taken.hook_index
    statuses = {t.name: t.status for t in taken.tasks}
    assert statuses == {
        **{f"t{i}": ("done" if ok else "failed") for i, ok in enumerate(task_outcomes)},
        "pending": "pending",
    }
