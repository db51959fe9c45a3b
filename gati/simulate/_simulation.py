"""``Simulation``: many requests, concurrently, through the real pipeline in one process.

The worker's pipeline (routing, the Local Context Controller with hooks, handler and
hook timeouts, compensations, effects) runs unchanged; the modules are the test's
scripts or fakes, and every module call can be delayed or failed on purpose. What it
answers is a ``SimReport``: how many requests got which status, latency percentiles,
timeouts, module calls. Delays are real ``asyncio.sleep``s, so keep them small.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Unpack, cast

from gati.core.app import App
from gati.core.effects import LiveEffects
from gati.core.ids import RequestIdGenerator
from gati.core.observe import Metrics
from gati.core.pipeline import Pipeline
from gati.core.ports import Clock, SystemClock
from gati.core.scope import RequestScope
from gati.simulate._faults import (
    Fault,
    InjectingEffects,
    Injector,
    LatencyModel,
    LatencySpec,
    SimulationError,
)
from gati.simulate._report import SimReport
from gati.testing._requests import RequestOptions, build_envelope
from gati.testing._services import build_services, seeded_rng, take_misses


@dataclass(frozen=True, slots=True)
class SimRequest:
    """One request to send: method, path and ``RequestOptions`` (json, headers, ...)."""

    method: str
    path: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, method: str, path: str, **options: Unpack[RequestOptions]) -> SimRequest:
        return cls(method, path, dict(options))


# ("GET", "/users/1") or ("POST", "/users", {"name": ...}) are accepted as shorthand.
SimRequestLike = SimRequest | tuple[str, str] | tuple[str, str, Any]
# A generator of requests: (index, rng) -> request; the rng is seeded per index.
RequestFactory = Callable[[int, random.Random], SimRequestLike]
RequestSource = Iterable[SimRequestLike] | RequestFactory


def _coerce(item: SimRequestLike) -> SimRequest:
    if isinstance(item, SimRequest):
        return item
    if isinstance(item, tuple) and len(item) == 2:
        return SimRequest(item[0], item[1])
    if isinstance(item, tuple) and len(item) == 3:
        return SimRequest(item[0], item[1], {"json": item[2]})
    raise SimulationError(
        f"not a request: {item!r} (use SimRequest.of(method, path, ...) or (method, path[, json]))")


class Simulation:
    """An in-process runtime for load-shaped tests of an app.

    Deterministic where it can be: with the same seed, each request's injected delays
    and failures, ``lctx.random()`` and ``lctx.uuid()`` are the same on every run (they
    are drawn from an rng keyed by the request's index, not by scheduling order).
    Latencies measured are real time, so they vary a little between runs.

    Args:
        app: the application.
        modules: as for ``GatiTestClient``: dict scripts or module objects; list scripts
            are consumed by whichever request calls first.
        latency: ``{"db.get_user": 0.2, "mail": uniform(0.01, 0.05)}`` (seconds, or a
            distribution ``rng -> seconds``; keys ``module.method``, ``module`` or
            ``*``), or one function ``(module, method, rng) -> seconds``.
        failures: ``{"mail.send_welcome": 0.1}`` or ``Fault(rate, error)``: the share of
            call attempts that raise (``InjectedFailure``, a ``ConnectionError``, by
            default, so the module's retry policy applies).
        seed: the seed of every random draw.
        concurrency: how many requests are in flight at once.
        secrets: what ``gctx.secrets.get`` finds.
        config: overrides of ``app.config``.
        clock: the pipeline's clock; real time by default, since delays are real.
        request_timeout_s: each request's deadline, as the gateway would set it.
        metrics: ``gctx.metrics`` (default: no-op).
    """

    def __init__(
        self,
        app: App,
        *,
        modules: Mapping[str, Any] | None = None,
        latency: Mapping[str, LatencySpec] | LatencyModel | None = None,
        failures: Mapping[str, float | Fault] | None = None,
        seed: int | str = 0,
        concurrency: int = 10,
        secrets: Mapping[str, str] | None = None,
        config: Mapping[str, Any] | None = None,
        clock: Clock | None = None,
        request_timeout_s: float = 30.0,
        metrics: Metrics | None = None,
    ) -> None:
        if concurrency < 1:
            raise SimulationError(f"concurrency must be at least 1, got {concurrency}")
        self.app = app
        self.seed = seed
        self.concurrency = concurrency
        self.request_timeout_s = request_timeout_s
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.services = build_services(app, modules, secrets=secrets, config=config,
                                       metrics=metrics)
        self.injector = Injector(latency, failures, set(app.modules))
        self.pipeline = Pipeline(app, self.services, clock=self.clock, worker_id="wk-sim",
                                 effects=self._effects)
        self._ids = RequestIdGenerator(self.clock, seeded_rng(seed, "request-ids").randbytes)
        self._index_of: dict[str, int] = {}
        self._next_index = 0

    def _effects(self, scope: RequestScope) -> InjectingEffects:
        index = self._index_of.pop(scope.request_id, -1)
        live = LiveEffects(scope, seeded_rng(self.seed, f"effects:{index}"))
        return InjectingEffects(live, self.injector, seeded_rng(self.seed, f"faults:{index}"))

    async def run(
        self, requests: RequestSource, *, total: int | None = None,
        duration_s: float | None = None,
    ) -> SimReport:
        """Send the requests, ``concurrency`` at a time, and report.

        A list is sent once, or cycled to ``total`` requests or for ``duration_s``; a
        generator is drawn from until it ends (or the bound); a ``RequestFactory``
        needs ``total`` or ``duration_s``. In-flight requests finish after the bound.

        Raises:
            ScriptError: a module call the scripts do not cover.
            SimulationError: an unbounded factory, or an item that is not a request.
        """
        items = self._items(requests, total, duration_s)
        stop_at = None if duration_s is None else time.monotonic() + duration_s
        samples = _Samples()
        self.injector.calls.clear()
        self.injector.failures.clear()
        started = time.perf_counter()
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(self.concurrency):
                    group.create_task(self._sender(items, stop_at, samples))
        except BaseExceptionGroup as failed:
            # One sender's error (a bad item, a bug) is the run's error, not a group of one.
            raise failed.exceptions[0] from None
        wall = time.perf_counter() - started
        misses = take_misses(self.services)
        if misses:
            raise misses[0]
        return SimReport.build(
            statuses=samples.statuses, error_codes=samples.codes,
            latencies_ms=samples.latencies_ms, module_calls=self.injector.calls,
            injected_failures=self.injector.failures, wall_s=wall,
        )

    async def _sender(self, items: Iterator[SimRequestLike], stop_at: float | None,
                      samples: _Samples) -> None:
        """One of ``concurrency`` senders: the next item, until none is left or time is up."""
        while stop_at is None or time.monotonic() < stop_at:
            try:
                item = next(items)
            except StopIteration:
                return
            index = self._next_index
            self._next_index += 1
            request = _coerce(item)
            env = build_envelope(
                request.method, request.path, cast(RequestOptions, dict(request.options)),
                request_id=self._ids.new(), now_us=self.clock.now_us(),
                gateway_id="gw-sim", default_timeout_s=self.request_timeout_s,
            )
            self._index_of[env.request_id] = index
            started = time.perf_counter()
            try:
                outcome = await self.pipeline.process(env)
            finally:
                # Requests answered before a handler runs (404, ...) never took it.
                self._index_of.pop(env.request_id, None)
            samples.latencies_ms.append((time.perf_counter() - started) * 1000)
            samples.statuses.append(outcome.response.status)
            samples.codes.append(outcome.events[-1].error_code if outcome.events else None)

    def _items(self, requests: RequestSource, total: int | None,
               duration_s: float | None) -> Iterator[SimRequestLike]:
        if total is not None and total < 0:
            raise SimulationError(f"total must not be negative, got {total}")
        bounded = total is not None or duration_s is not None
        items: Iterator[SimRequestLike]
        if callable(requests) and not isinstance(requests, Iterable):
            if not bounded:
                raise SimulationError("a request factory needs total= or duration_s=")
            factory = requests
            items = (factory(i, seeded_rng(self.seed, f"request:{i}")) for i in itertools.count())
        elif isinstance(requests, Sequence) and bounded:
            if not requests:
                raise SimulationError("no requests to send")
            items = itertools.cycle(requests)
        else:
            items = iter(requests)
        return itertools.islice(items, total) if total is not None else items


@dataclass(slots=True)
class _Samples:
    """What the senders of one run observed, in completion order."""

    statuses: list[int] = field(default_factory=list)
    codes: list[str | None] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
