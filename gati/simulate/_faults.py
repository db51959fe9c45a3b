"""Injected latency and failures, applied where the worker calls a module.

Injection wraps the request's ``Effects`` ledger rather than the module objects: the
ledger is the one place every module call passes through, it is built per request (so
each request draws from its own seeded rng, whatever the scheduling), and the injected
delay sits inside the module's call timeout and retries exactly as a slow or flaky
dependency would.
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from gati.core.effects import CallPolicy, LiveEffects
from gati.core.record import Effect
from gati.core.redact import Secret
from gati.errors import GatiError

E = TypeVar("E", bound=Effect)

# A distribution: draws a delay in seconds from the request's rng.
Distribution = Callable[[random.Random], float]
LatencySpec = float | Distribution
# The whole-latency form: (module, method, rng) -> seconds.
LatencyModel = Callable[[str, str, random.Random], float]


class SimulationError(GatiError):
    """A simulation that cannot run as configured."""

    code = "simulation_error"


class InjectedFailure(ConnectionError):
    """The default injected error: transient, so module retry policies apply to it."""


@dataclass(frozen=True, slots=True)
class Fault:
    """Fail a share of calls.

    Attributes:
        rate: the probability, 0..1, that one call attempt fails.
        error: the exception class raised, built with a message naming the call.
    """

    rate: float
    error: type[Exception] = InjectedFailure

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise SimulationError(f"a failure rate is a probability in 0..1, got {self.rate}")


def constant(seconds: float) -> Distribution:
    """Always ``seconds``."""
    return lambda _rng: seconds


def uniform(low: float, high: float) -> Distribution:
    """Uniform between ``low`` and ``high`` seconds."""
    return lambda rng: rng.uniform(low, high)


def exponential(mean: float) -> Distribution:
    """Exponential with the given mean (many fast calls, a long tail)."""
    return lambda rng: rng.expovariate(1.0 / mean) if mean > 0 else 0.0


def _lookup(table: Mapping[str, Any], module: str, method: str) -> Any:
    for key in (f"{module}.{method}", module, "*"):
        if key in table:
            return table[key]
    return None


class Injector:
    """Turns the ``latency`` and ``failures`` settings into per-call decisions.

    Keys are ``"module.method"``, ``"module"`` (all its methods) or ``"*"``; the most
    specific wins. Counts every call attempt and every injected failure.
    """

    def __init__(
        self,
        latency: Mapping[str, LatencySpec] | LatencyModel | None,
        failures: Mapping[str, float | Fault] | None,
        modules: set[str],
    ) -> None:
        self._model: LatencyModel | None = None
        self._latency: dict[str, LatencySpec] = {}
        if callable(latency):
            self._model = latency
        elif latency is not None:
            self._latency = dict(latency)
        self._failures = {k: v if isinstance(v, Fault) else Fault(float(v))
                          for k, v in (failures or {}).items()}
        for key in [*self._latency, *self._failures]:
            module = key.split(".", 1)[0]
            if key != "*" and module not in modules:
                known = ", ".join(sorted(modules)) or "none"
                raise SimulationError(f"{key!r} names no registered module (registered: {known})")
        self.calls: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()

    def delay(self, module: str, method: str, rng: random.Random) -> float:
        if self._model is not None:
            return max(0.0, self._model(module, method, rng))
        spec = _lookup(self._latency, module, method)
        if spec is None:
            return 0.0
        return max(0.0, spec(rng) if callable(spec) else float(spec))

    def fault(self, module: str, method: str, rng: random.Random) -> Exception | None:
        fault: Fault | None = _lookup(self._failures, module, method)
        # Drawn even at rate 0 or 1, so adding a fault keeps the other draws in step.
        if fault is None or rng.random() >= fault.rate:
            return None
        self.failures[f"{module}.{method}"] += 1
        return fault.error(f"injected failure of {module}.{method}()")


class InjectingEffects:
    """An ``Effects`` ledger: the live one, with latency and failures before each call."""

    def __init__(self, live: LiveEffects, injector: Injector, rng: random.Random) -> None:
        self._live = live
        self._injector = injector
        self._rng = rng

    def clock_us(self) -> int:
        return self._live.clock_us()

    def random(self) -> float:
        return self._live.random()

    def uuid(self) -> str:
        return self._live.uuid()

    def secret(self, name: str, lookup: Callable[[], Secret]) -> Secret:
        return self._live.secret(name, lookup)

    async def perform(self, wanted: E, act: Callable[[], Awaitable[E]]) -> E:
        """Effects other than module calls are performed as live ones (no faults)."""
        return await self._live.perform(wanted, act)

    async def call(
        self, module: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any],
        invoke: Callable[[], Any], policy: CallPolicy,
    ) -> Any:
        injector, rng = self._injector, self._rng

        async def injected() -> Any:
            # One attempt: the live ledger calls this again on each retry.
            injector.calls[f"{module}.{method}"] += 1
            delay = injector.delay(module, method, rng)
            if delay > 0:
                await asyncio.sleep(delay)
            error = injector.fault(module, method, rng)
            if error is not None:
                raise error
            result = invoke()
            if inspect.isawaitable(result):
                result = await result
            return result

        return await self._live.call(module, method, args, kwargs, injected, policy)
