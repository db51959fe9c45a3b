"""Simulation: concurrent requests through the real pipeline, with slow and failing modules.

Injected delays are real sleeps: they are kept at tens of milliseconds.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from gati import App, GlobalContext, LocalContext, Request, RequestError, Response
from gati.simulate import (
    Fault,
    SimRequest,
    Simulation,
    SimulationError,
    constant,
    exponential,
    uniform,
)
from gati.testing import UnscriptedCall


def make_app(*, handler_timeout_s: float | None = None, mail_retries: int = 0,
             db_timeout_s: float | None = 10.0) -> App:
    app = App("simshop")
    app.module("db", timeout_s=db_timeout_s)(dict)
    app.module("mail", retries=mail_retries)(dict)
    cleanups: list[str] = []
    app.config["cleanups"] = cleanups

    @app.cleanup
    def count(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        cleanups.append(req.request_id)

    @app.get("/users/{user_id:int}", timeout_s=handler_timeout_s)
    async def get(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        user = await gctx.modules.db.get_user(req.params["user_id"])
        if user is None:
            raise RequestError("no such user", code="user_not_found", status=404)
        res.json({**user, "token": lctx.uuid()})

    @app.post("/users")
    async def create(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        user = await gctx.modules.db.insert_user(req.body["name"])
        await gctx.modules.mail.send_welcome(req.body["name"])
        res.status(201).json(user)

    @app.get("/health")
    async def health(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.json("ok")

    return app


USER = {"id": 1, "name": "Ada"}


async def test_a_slow_module_past_the_handler_timeout_answers_504_and_is_counted() -> None:
    app = make_app(handler_timeout_s=0.02)
    sim = Simulation(app, modules={"db": {"get_user": USER}},
                     latency={"db.get_user": 30.0}, concurrency=10)

    report = await sim.run([("GET", "/users/1")] * 10 + [("GET", "/health")] * 5)

    assert report.total == 15
    assert dict(report.by_status) == {200: 5, 504: 10}
    assert report.timeouts == 10
    assert dict(report.errors_by_code) == {"handler_timeout": 10}
    assert dict(report.module_calls) == {"db.get_user": 10}
    assert len(app.config["cleanups"]) == 15  # cleanup hooks ran for the timed-out ones too
    # Cut at the 20 ms handler timeout, not the 30 s module delay: a margin no loaded
    # machine closes, so this asserts the cut, not the speed.
    assert 20 <= report.p99_ms < 30_000
    assert report.p50_ms <= report.p95_ms <= report.p99_ms <= report.max_ms


async def test_the_module_call_timeout_fires_before_a_slower_handler_timeout() -> None:
    sim = Simulation(make_app(db_timeout_s=0.02), modules={"db": {"get_user": USER}},
                     latency={"db": 0.2})

    report = await sim.run([("GET", "/users/1")] * 4)

    assert dict(report.by_status) == {504: 4}
    assert dict(report.errors_by_code) == {"module_timeout": 4} and report.timeouts == 4


async def test_injected_failures_are_retried_by_the_module_policy() -> None:
    sim = Simulation(make_app(mail_retries=1),
                     modules={"db": {"insert_user": USER}, "mail": {"send_welcome": None}},
                     failures={"mail.send_welcome": 1.0})

    report = await sim.run([SimRequest.of("POST", "/users", json={"name": "Ada"})] * 3)

    assert dict(report.by_status) == {500: 3}
    assert dict(report.errors_by_code) == {"internal_error": 3}
    assert report.module_calls["mail.send_welcome"] == 6  # one retry each
    assert report.injected_failures["mail.send_welcome"] == 6


async def test_same_seed_same_injected_failures_and_uuids() -> None:
    def run(seed: int) -> Simulation:
        return Simulation(make_app(), seed=seed,
                          modules={"db": {"insert_user": USER}, "mail": {"send_welcome": None}},
                          failures={"mail": Fault(0.5, error=TimeoutError)}, concurrency=7)

    requests = [("POST", "/users", {"name": f"u{i}"}) for i in range(40)]
    first = await run(11).run(requests)
    second = await run(11).run(requests)
    other = await run(12).run(requests)

    assert first.by_status == second.by_status
    assert first.injected_failures == second.injected_failures
    assert 0 < first.injected_failures["mail.send_welcome"] < 40
    assert first.injected_failures != other.injected_failures


async def test_a_request_factory_with_total_and_distributions() -> None:
    def pick(i: int, rng: random.Random) -> SimRequest:
        return SimRequest.of("GET", f"/users/{rng.randint(1, 3)}")

    def get_user(user_id: int) -> dict[str, Any] | None:
        return None if user_id == 3 else {"id": user_id, "name": "x"}

    sim = Simulation(make_app(), modules={"db": {"get_user": get_user}},
                     latency=lambda module, method, rng: rng.uniform(0, 0.002), seed=5)
    report = await sim.run(pick, total=30)

    assert report.total == 30 and set(report.by_status) <= {200, 404}
    assert report.count(200) + report.count(404) == 30
    assert report.count(404) == report.errors_by_code.get("user_not_found", 0)
    again = await Simulation(make_app(), modules={"db": {"get_user": get_user}},
                             seed=5).run(pick, total=30)
    assert again.by_status == report.by_status  # the factory's rng is seeded per index
    assert "30 requests" in report.summary()


async def test_a_list_cycles_to_total_and_a_duration_bounds_the_run() -> None:
    sim = Simulation(make_app(), latency={"*": constant(0.001)}, concurrency=3)

    cycled = await sim.run([("GET", "/health")], total=7)
    timed = await sim.run([("GET", "/health")], duration_s=0.05)

    assert cycled.total == 7
    assert timed.total >= 3 and timed.wall_s < 1.0


async def test_a_generator_is_drawn_until_it_ends() -> None:
    report = await Simulation(make_app()).run(("GET", "/health") for _ in range(4))

    assert dict(report.by_status) == {200: 4}


def test_distributions_draw_from_the_given_rng() -> None:
    rng = random.Random(1)
    assert constant(0.5)(rng) == 0.5
    assert 0.1 <= uniform(0.1, 0.2)(rng) <= 0.2
    assert exponential(0.01)(rng) >= 0 and exponential(0)(rng) == 0.0


async def test_misconfigurations_are_named() -> None:
    app = make_app()
    with pytest.raises(SimulationError, match=r"'dbb.get_user' names no registered module"):
        Simulation(app, latency={"dbb.get_user": 0.1})
    with pytest.raises(SimulationError, match="probability"):
        Simulation(app, failures={"db": 1.5})
    with pytest.raises(SimulationError, match="concurrency"):
        Simulation(app, concurrency=0)
    with pytest.raises(SimulationError, match="needs total= or duration_s="):
        await Simulation(app).run(lambda i, rng: ("GET", "/health"))
    with pytest.raises(SimulationError, match="not a request"):
        await Simulation(app).run(["GET /health"])  # type: ignore[list-item]


async def test_an_unscripted_call_fails_the_simulation() -> None:
    with pytest.raises(UnscriptedCall, match=r"db\.get_user"):
        await Simulation(make_app()).run([("GET", "/users/1")])
