"""Same seed, same clock: the same ids, times, random numbers and uuids, run after run."""

from __future__ import annotations

import datetime as dt

import pytest

from gati import App, GlobalContext, LocalContext, Request, Response
from gati.testing import DEFAULT_START_US, FixedClock, GatiTestClient, Result


def draws_app() -> App:
    app = App("draws")

    @app.get("/draw")
    async def draw(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.json({"now": lctx.now().isoformat(), "now_us": lctx.now_us(),
                  "random": [lctx.random(), lctx.random()], "uuid": lctx.uuid()})

    return app


async def run_twice(seed: int, step_us: int = 0) -> list[Result]:
    client = GatiTestClient(draws_app(), seed=seed,
                            clock=FixedClock(DEFAULT_START_US, step_us=step_us))
    return [await client.get("/draw"), await client.get("/draw")]


@pytest.mark.parametrize("step_us", [0, 1_000])
async def test_two_runs_with_the_same_seed_see_the_same_values(step_us: int) -> None:
    first, second = await run_twice(7, step_us), await run_twice(7, step_us)

    assert [r.json() for r in first] == [r.json() for r in second]
    assert [r.request_id for r in first] == [r.request_id for r in second]
    assert [[(e.stage, e.at_us, e.detail) for e in r.events] for r in first] == [
        [(e.stage, e.at_us, e.detail) for e in r.events] for r in second]


async def test_requests_differ_from_each_other_and_seeds_differ() -> None:
    a1, a2 = await run_twice(7)
    (b1, _) = await run_twice(8)

    assert a1.json()["random"] != a2.json()["random"]
    assert a1.json()["uuid"] != a2.json()["uuid"]
    assert a1.json()["random"] != b1.json()["random"]
    assert a1.request_id != a2.request_id


async def test_the_draws_are_recorded_as_effects() -> None:
    (result, _) = await run_twice(1)
    body = result.json()

    assert [(e.kind, e.value) for e in result.effects] == [
        ("clock", body["now_us"]), ("clock", body["now_us"]),
        ("random", body["random"][0]), ("random", body["random"][1]), ("uuid", body["uuid"])]


async def test_a_frozen_clock_is_the_handlers_now() -> None:
    (result, _) = await run_twice(0)

    assert result.json()["now"] == "2026-01-01T00:00:00+00:00"
    assert {e.at_us for e in result.events} == {DEFAULT_START_US}


def test_fixed_clock_steps_advances_and_jumps() -> None:
    clock = FixedClock(1_000, step_us=10)

    assert [clock.now_us(), clock.now_us()] == [1_000, 1_010]
    assert clock.current_us == 1_020
    clock.advance(5, seconds=0.001)
    assert clock.now_us() == 2_025
    clock.set(0)
    assert clock.now_us() == 0
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="negative"):
        FixedClock(step_us=-1)
    assert dt.datetime.fromtimestamp(DEFAULT_START_US / 1e6, tz=dt.UTC).year == 2026
