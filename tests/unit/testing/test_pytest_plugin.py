"""The pytest plugin's fixtures and marker."""

from __future__ import annotations

import pytest

from gati import App, GlobalContext, LocalContext, Request, Response
from gati.simulate import Simulation
from gati.testing import DEFAULT_START_US, FixedClock, GatiTestClient
from gati.testing.pytest_plugin import ClientFactory, SimulationFactory


def clock_app() -> App:
    app = App("clocked")

    @app.get("/now")
    async def now(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.json({"now_us": lctx.now_us(), "random": lctx.random()})

    return app


async def test_gati_client_uses_the_tests_clock(gati_client: ClientFactory,
                                                gati_clock: FixedClock) -> None:
    client = gati_client(clock_app())
    gati_clock.advance(seconds=2)

    result = await client.get("/now")

    assert isinstance(client, GatiTestClient) and client.clock is gati_clock
    assert result.json()["now_us"] == DEFAULT_START_US + 2_000_000


@pytest.mark.gati(seed=42, start_us=5_000_000, step_us=1)
async def test_the_marker_sets_seed_and_clock(gati_client: ClientFactory,
                                              gati_clock: FixedClock) -> None:
    marked = await gati_client(clock_app()).get("/now")
    same_seed = await GatiTestClient(clock_app(), seed=42,
                                     clock=FixedClock(5_000_000, 1)).get("/now")

    assert gati_clock.step_us == 1
    assert marked.json()["random"] == same_seed.json()["random"]
    assert marked.json()["now_us"] >= 5_000_000


def test_sync_facades_from_the_factory_work(gati_client: ClientFactory) -> None:
    sync = gati_client(clock_app()).sync()  # closed by the fixture after the test

    assert sync.get("/now").json()["now_us"] == DEFAULT_START_US


@pytest.mark.gati(seed=3)
def test_gati_simulation_gets_the_tests_seed(gati_simulation: SimulationFactory) -> None:
    sim = gati_simulation(clock_app(), concurrency=2)

    assert isinstance(sim, Simulation) and sim.seed == 3 and sim.concurrency == 2
