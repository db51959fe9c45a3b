"""Simulation tests: many concurrent requests through the real pipeline, in process.

``Simulation(app, modules=..., latency=..., failures=..., seed=..., concurrency=...)``
runs requests through routing, hooks and handlers with module calls delayed or failed
on purpose, honouring handler and module timeouts, and returns a ``SimReport``
(statuses, error codes, timeouts, latency percentiles, module calls).
"""

from gati.simulate._faults import (
    Distribution,
    Fault,
    InjectedFailure,
    SimulationError,
    constant,
    exponential,
    uniform,
)
from gati.simulate._report import TIMEOUT_CODES, SimReport, percentile
from gati.simulate._simulation import RequestFactory, SimRequest, Simulation

__all__ = [
    "TIMEOUT_CODES",
    "Distribution",
    "Fault",
    "InjectedFailure",
    "RequestFactory",
    "SimReport",
    "SimRequest",
    "Simulation",
    "SimulationError",
    "constant",
    "exponential",
    "percentile",
    "uniform",
]
