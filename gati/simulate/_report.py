"""The outcome of a simulation run, as numbers a test can assert on."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

# Error codes that mean "something took too long" (handler, module, hook, or the
# request's own deadline), whichever layer noticed.
TIMEOUT_CODES = frozenset({"handler_timeout", "module_timeout", "hook_timeout",
                           "deadline_exceeded"})


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile by the nearest-rank method; 0.0 for no values.

    Nearest rank returns an observed value (the smallest with at least ``p`` percent of
    values at or below it), so "p99 = 200 ms" means some request really took 200 ms.
    """
    if not 0 < p <= 100:
        raise ValueError(f"a percentile is in (0, 100], got {p}")
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


@dataclass(frozen=True, slots=True)
class SimReport:
    """What a ``Simulation.run`` produced.

    Attributes:
        total: requests completed.
        by_status: HTTP status -> count.
        errors_by_code: recorded error code of failed requests -> count.
        timeouts: requests that ended with a timeout code (``TIMEOUT_CODES``).
        module_calls: ``"module.method"`` -> call attempts (retries count).
        injected_failures: ``"module.method"`` -> failures injected.
        latencies_ms: each request's time in the pipeline, sorted ascending.
        wall_s: the run's wall-clock duration.
    """

    total: int
    by_status: Mapping[int, int]
    errors_by_code: Mapping[str, int]
    timeouts: int
    module_calls: Mapping[str, int]
    injected_failures: Mapping[str, int]
    latencies_ms: tuple[float, ...]
    wall_s: float

    @classmethod
    def build(
        cls, *, statuses: Iterable[int], error_codes: Iterable[str | None],
        latencies_ms: Iterable[float], module_calls: Mapping[str, int] | None = None,
        injected_failures: Mapping[str, int] | None = None, wall_s: float = 0.0,
    ) -> SimReport:
        """Aggregate per-request observations (``statuses`` and ``error_codes`` aligned)."""
        by_status: dict[int, int] = {}
        for status in statuses:
            by_status[status] = by_status.get(status, 0) + 1
        errors: dict[str, int] = {}
        for code in error_codes:
            if code is not None:
                errors[code] = errors.get(code, 0) + 1
        return cls(
            total=sum(by_status.values()),
            by_status=MappingProxyType(dict(sorted(by_status.items()))),
            errors_by_code=MappingProxyType(dict(sorted(errors.items()))),
            timeouts=sum(n for code, n in errors.items() if code in TIMEOUT_CODES),
            module_calls=MappingProxyType(dict(sorted((module_calls or {}).items()))),
            injected_failures=MappingProxyType(dict(sorted((injected_failures or {}).items()))),
            latencies_ms=tuple(sorted(latencies_ms)),
            wall_s=wall_s,
        )

    def percentile_ms(self, p: float) -> float:
        return percentile(self.latencies_ms, p)

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(50)

    @property
    def p95_ms(self) -> float:
        return self.percentile_ms(95)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)

    @property
    def max_ms(self) -> float:
        return self.latencies_ms[-1] if self.latencies_ms else 0.0

    @property
    def mean_ms(self) -> float:
        return sum(self.latencies_ms) / len(self.latencies_ms) if self.latencies_ms else 0.0

    @property
    def throughput_rps(self) -> float:
        return self.total / self.wall_s if self.wall_s > 0 else 0.0

    def count(self, status: int) -> int:
        return self.by_status.get(status, 0)

    def summary(self) -> str:
        """A few lines for a test's failure message or a terminal."""
        statuses = " ".join(f"{s}={n}" for s, n in self.by_status.items()) or "-"
        errors = " ".join(f"{c}={n}" for c, n in self.errors_by_code.items()) or "-"
        calls = " ".join(f"{c}={n}" for c, n in self.module_calls.items()) or "-"
        return (
            f"{self.total} requests in {self.wall_s:.3f}s ({self.throughput_rps:.1f}/s)\n"
            f"status: {statuses}\nerrors: {errors} (timeouts {self.timeouts})\n"
            f"latency ms: p50 {self.p50_ms:.2f} p95 {self.p95_ms:.2f} p99 {self.p99_ms:.2f} "
            f"max {self.max_ms:.2f}\nmodule calls: {calls}"
        )
