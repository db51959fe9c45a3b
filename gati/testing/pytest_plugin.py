"""pytest fixtures for testing Gati apps.

Enable it with the ``pytest11`` entry point Gati declares (automatic once installed)
or with ``-p gati.testing.pytest_plugin``. Fixtures:

- ``gati_clock``: a ``FixedClock`` (frozen unless the ``gati`` marker says otherwise);
- ``gati_client``: a factory, ``gati_client(app, modules=..., ...)`` -> ``GatiTestClient``
  on ``gati_clock`` and the test's seed; sync facades it hands out are closed after
  the test;
- ``gati_simulation``: a factory, ``gati_simulation(app, ...)`` -> ``Simulation`` with
  the test's seed.

The marker ``@pytest.mark.gati(seed=7, start_us=..., step_us=1000)`` sets the seed and
the clock of these fixtures for one test (or a module, via ``pytestmark``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import pytest

from gati.core.app import App
from gati.simulate import Simulation
from gati.testing._client import GatiTestClient
from gati.testing._clock import DEFAULT_START_US, FixedClock

MARKER = "gati"
_OPTIONS = frozenset({"seed", "start_us", "step_us"})


class ClientFactory(Protocol):
    def __call__(self, app: App, **options: Any) -> GatiTestClient: ...


class SimulationFactory(Protocol):
    def __call__(self, app: App, **options: Any) -> Simulation: ...


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(seed=0, start_us={DEFAULT_START_US}, step_us=0): seed and clock of the "
        "gati_client, gati_clock and gati_simulation fixtures",
    )


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        return {}
    if marker.args:
        raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keyword arguments only")
    unknown = set(marker.kwargs) - _OPTIONS
    if unknown:
        raise pytest.UsageError(
            f"@pytest.mark.{MARKER}: unknown options {sorted(unknown)} (known: {sorted(_OPTIONS)})")
    return dict(marker.kwargs)


@pytest.fixture
def gati_seed(request: pytest.FixtureRequest) -> int | str:
    """The test's seed: the ``gati`` marker's ``seed``, else 0."""
    seed: int | str = _options(request).get("seed", 0)
    return seed


@pytest.fixture
def gati_clock(request: pytest.FixtureRequest) -> FixedClock:
    """A ``FixedClock`` at the marker's ``start_us`` / ``step_us`` (default: frozen)."""
    opts = _options(request)
    return FixedClock(opts.get("start_us", DEFAULT_START_US), opts.get("step_us", 0))


@pytest.fixture
def gati_client(gati_clock: FixedClock, gati_seed: int | str) -> Iterator[ClientFactory]:
    """``gati_client(app, **options)``: a ``GatiTestClient`` on the test's clock and seed."""
    made: list[GatiTestClient] = []

    def make(app: App, **options: Any) -> GatiTestClient:
        options.setdefault("clock", gati_clock)
        options.setdefault("seed", gati_seed)
        client = GatiTestClient(app, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def gati_simulation(gati_seed: int | str) -> SimulationFactory:
    """``gati_simulation(app, **options)``: a ``Simulation`` with the test's seed."""

    def make(app: App, **options: Any) -> Simulation:
        options.setdefault("seed", gati_seed)
        return Simulation(app, **options)

    return make
