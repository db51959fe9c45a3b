"""The public surface of gati.testing and gati.simulate, pinned."""

from __future__ import annotations

import gati.simulate
import gati.testing


def test_gati_testing_exports() -> None:
    assert sorted(gati.testing.__all__) == sorted([
        "DEFAULT_START_US", "DictSecrets", "Effect", "FixedClock", "GatiTestClient",
        "Invocation", "LogLine", "RequestOptions", "Result", "Returns", "ScriptError",
        "ScriptExhausted", "ScriptedCall", "ScriptedModule", "SyncGatiTestClient",
        "UnscriptedCall", "invoke", "make_request", "returns",
    ])
    assert all(hasattr(gati.testing, name) for name in gati.testing.__all__)


def test_gati_simulate_exports() -> None:
    assert sorted(gati.simulate.__all__) == sorted([
        "TIMEOUT_CODES", "Distribution", "Fault", "InjectedFailure", "RequestFactory",
        "SimReport", "SimRequest", "Simulation", "SimulationError", "constant",
        "exponential", "percentile", "uniform",
    ])
    assert all(hasattr(gati.simulate, name) for name in gati.simulate.__all__)
