"""An out-of-process module as handlers see it: one object that outlives its processes.

``gctx.modules.ids.hash_password(...)`` reaches ``ProcessModule.invoke`` through the
same ``ModuleProxy`` and effect ledger as an in-process module, so the call is recorded
(and replayed from the record, the process never started) exactly like any other.
Behind it, the supervisor keeps one process serving: a process that dies is replaced
after a backoff that doubles with each crash in the window; its calls in flight have
already failed with a typed error. A module that keeps dying trips a circuit breaker
(calls fail fast with ``module_unavailable``) instead of being restarted in a loop.
``reload`` starts a new process, sends new calls to it and drains the old one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gati.core.context import SecretSource
from gati.core.observe import Metrics
from gati.core.redact import Redactor
from gati.errors import ConfigError
from gati.modules.broker import CapabilityBroker
from gati.modules.errors import ModuleError, ModuleProtocolError, ModuleUnavailable
from gati.modules.process import ModuleProcess
from gati.modules.protocol import PING, Handshake
from gati.modules.sandbox import module_env, sandboxed_argv
from gati.modules.spec import ProcessSpec
from gati.modules.wasm import WasmModule, check_wasm_runtime

log = logging.getLogger("gati.modules")
# Written by ``gati modules reload NAME`` into the module's directory; a change to it (or
# to the entry file: a rebuilt binary, an edited script) reloads the module.
RELOAD_FILE = ".gati-reload"


@dataclass(slots=True)
class ModuleStats:
    """Per-module figures, kept here and mirrored to the worker's metrics once bound."""

    calls: int = 0
    errors: int = 0
    restarts: int = 0
    reloads: int = 0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=4096))

    def p50_ms(self) -> float | None:
        ordered = sorted(self.latencies_ms)
        return ordered[len(ordered) // 2] if ordered else None


class _Instruments:
    """``gati_module_*`` on the worker's /metrics, labelled by module."""

    def __init__(self, metrics: Metrics, module: str) -> None:
        self.module = module
        self.calls = metrics.counter("gati_module_calls_total",
                                     "Calls to out-of-process modules.", ("module",))
        self.errors = metrics.counter("gati_module_errors_total",
                                      "Module calls that failed, by error code.",
                                      ("module", "code"))
        self.restarts = metrics.counter("gati_module_restarts_total",
                                        "Module processes restarted after a crash.", ("module",))
        self.reloads = metrics.counter("gati_module_reloads_total",
                                       "Module processes replaced by a reload.", ("module",))
        self.latency = metrics.histogram("gati_module_call_seconds",
                                         "Latency of module calls.", ("module",))


class ProcessModule:
    """The instance ``app.module`` holds for an out-of-process module."""

    def __init__(self, spec: ProcessSpec, *, secrets: list[SecretSource] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self.stats = ModuleStats()
        self.broker = CapabilityBroker(spec, secrets)
        self._clock = clock
        self._current: ModuleProcess | WasmModule | None = None
        self._up = asyncio.Event()
        self._crashes: deque[float] = deque()
        self._open_until = 0.0
        self._restarting: asyncio.Task[None] | None = None
        self._watching: asyncio.Task[None] | None = None
        self._checking: asyncio.Task[None] | None = None
        self._closed = False
        self._limit = asyncio.Semaphore(spec.limits.concurrency)
        self._methods = {m.name for m in spec.methods}
        self._params = {m.name: tuple(n for n, _ in m.params) for m in spec.methods}
        self._metrics: _Instruments | None = None

    def bind_worker(self, *, metrics: Metrics, redactor: Redactor | None) -> None:
        """The worker's metrics, and the redactor that masks in every record a secret
        handed to the module (called by the worker before ``start``)."""
        self._metrics = _Instruments(metrics, self.spec.name)
        self.broker.redactor = redactor

    @property
    def process(self) -> ModuleProcess | WasmModule | None:
        return self._current

    @property
    def breaker_open(self) -> bool:
        return self._clock() < self._open_until

    async def start(self) -> None:
        self._current = await self._spawn()
        self._up.set()
        if self.spec.limits.watch_s > 0:
            self._watching = asyncio.ensure_future(self._watch())
        if self.spec.limits.health_s > 0 and self.spec.runtime != "wasm":
            self._checking = asyncio.ensure_future(self._health())

    async def close(self) -> None:
        self._closed = True
        for task in (self._watching, self._checking):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._restarting is not None:
            self._restarting.cancel()
            await asyncio.gather(self._restarting, return_exceptions=True)
        if self._current is not None:
            await self._current.close()
        await self.broker.close()

    async def reload(self) -> Handshake:
        """A new process takes new calls once it has shaken hands; the old one finishes
        the calls it has and exits. A new process that fails leaves the old serving."""
        new = await self._spawn()
        old, self._current = self._current, new
        self._up.set()
        self.stats.reloads += 1
        if self._metrics is not None:
            self._metrics.reloads.inc(module=self.spec.name)
        if old is not None:
            await old.drain()
        assert new.handshake is not None
        return new.handshake

    def _watched(self) -> tuple[tuple[str, int, int], ...]:
        root = Path(self.spec.root)
        paths = [root / RELOAD_FILE, *(root / e for e in self.spec.entry)]
        seen = []
        for path in paths:
            try:
                st = path.stat()
            except OSError:
                continue
            if path.is_file():
                seen.append((str(path), st.st_mtime_ns, st.st_size))
        return tuple(seen)

    async def _watch(self) -> None:
        """Reload when the entry or the reload marker changes; a reload that fails
        leaves the old process serving, and the next change tries again."""
        last = self._watched()
        while not self._closed:
            await asyncio.sleep(self.spec.limits.watch_s)  # polling interval, by design
            now = self._watched()
            if now == last:
                continue
            last = now
            try:
                handshake = await self.reload()
            except (ModuleError, OSError, ConfigError) as exc:
                log.error("module %s: reload failed, the old process serves on: %s",
                          self.spec.name, exc)
                continue
            log.info("module %s reloaded: version %s", self.spec.name, handshake.version)

    async def _health(self) -> None:
        """A process that does not answer gati.ping hangs: kill it, so it is restarted
        (and its calls in flight fail now rather than at their timeouts)."""
        limits = self.spec.limits
        while not self._closed:
            await asyncio.sleep(limits.health_s)  # the check's interval, by design
            proc = self._current
            if not isinstance(proc, ModuleProcess) or not proc.alive:
                continue
            try:
                await asyncio.wait_for(proc.call(PING, {}), limits.health_timeout_s)
            except TimeoutError:
                log.error("module %s: no answer to its health check in %ss; restarting",
                          self.spec.name, limits.health_timeout_s)
                await proc.kill(ModuleUnavailable(
                    f"module {self.spec.name!r} hung: no answer to its health check"),
                    report=True)
            except ModuleError:
                continue  # it died meanwhile: the restart is already under way

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._methods:
            raise AttributeError(f"module {self.spec.name!r} has no method {name!r} "
                                 f"(declared: {sorted(self._methods)})")

        async def method(*args: Any, **kwargs: Any) -> Any:
            return await self.invoke(name, args, kwargs)

        method.__name__ = name
        self.__dict__[name] = method  # found directly from now on, not rebuilt per call
        return method

    async def invoke(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        params = self._bind(method, args, kwargs)
        started = time.perf_counter()
        self.stats.calls += 1
        try:
            async with self._limit:
                proc = self._current
                if proc is None or not proc.alive or self.breaker_open:
                    proc = await self._serving()
                return await proc.call(method, params, self.spec.limits.timeout_s)
        except BaseException as exc:
            self.stats.errors += 1
            if self._metrics is not None:
                code = getattr(exc, "code", None)
                self._metrics.errors.inc(module=self.spec.name, code=code if isinstance(
                    code, str) else "cancelled" if isinstance(exc, asyncio.CancelledError)
                    else type(exc).__name__)
            raise
        finally:
            elapsed = time.perf_counter() - started
            self.stats.latencies_ms.append(elapsed * 1000)
            if self._metrics is not None:
                self._metrics.calls.inc(module=self.spec.name)
                self._metrics.latency.observe(elapsed, module=self.spec.name)

    def _bind(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Positional arguments by the declared parameters' names: the wire has only names."""
        names = self._params[method]
        if len(args) > len(names):
            raise TypeError(f"{self.spec.name}.{method} takes {len(names)} arguments "
                            f"({', '.join(names)}), got {len(args)}")
        params = dict(zip(names, args, strict=False))
        for key, value in kwargs.items():
            if key not in names or key in params:
                raise TypeError(f"{self.spec.name}.{method}: unexpected or repeated "
                                f"argument {key!r} (parameters: {', '.join(names)})")
            params[key] = value
        missing = [n for n in names if n not in params]
        if missing:
            raise TypeError(f"{self.spec.name}.{method}: missing arguments {missing}")
        return params

    async def _serving(self) -> ModuleProcess | WasmModule:
        while True:
            if self.breaker_open:
                raise ModuleUnavailable(
                    f"module {self.spec.name!r} crashed {len(self._crashes)} times within "
                    f"{self.spec.restart.breaker_window_s}s; its circuit breaker is open")
            current = self._current
            if current is not None and current.alive:
                return current
            if self._closed:
                raise ModuleUnavailable(f"module {self.spec.name!r} is closed")
            self._up.clear()
            self._ensure_restart()
            await self._up.wait()  # the call's own timeout bounds this wait

    async def _spawn(self) -> ModuleProcess | WasmModule:
        proc: ModuleProcess | WasmModule
        if self.spec.runtime == "wasm":
            check_wasm_runtime()
            proc = WasmModule(self.spec)
        else:
            proc = ModuleProcess(self.spec, sandboxed_argv(self.spec), module_env(self.spec),
                                 broker=self.broker, on_exit=self._exited)
        handshake = await proc.start()
        self._check(handshake)
        return proc

    def _check(self, handshake: Handshake) -> None:
        if handshake.name != self.spec.name:
            raise ModuleProtocolError(f"module {self.spec.name!r}: the process says it is "
                                      f"{handshake.name!r}")
        missing = sorted(self._methods - {m.name for m in handshake.methods})
        if missing:
            raise ModuleProtocolError(f"module {self.spec.name!r}: the process lacks the "
                                      f"declared methods {missing}")

    def _exited(self, proc: ModuleProcess, reason: ModuleError) -> None:
        if proc is not self._current or self._closed:
            return
        now = self._clock()
        self._crashes.append(now)
        while self._crashes and now - self._crashes[0] > self.spec.restart.breaker_window_s:
            self._crashes.popleft()
        if len(self._crashes) >= self.spec.restart.breaker_crashes:
            self._open_until = now + self.spec.restart.breaker_open_s
            log.error("module %s: circuit breaker open for %ss after %s crashes",
                      self.spec.name, self.spec.restart.breaker_open_s, len(self._crashes))
        self._up.clear()
        self._ensure_restart()

    def _ensure_restart(self) -> None:
        if self._restarting is None or self._restarting.done():
            self._restarting = asyncio.ensure_future(self._restart())

    async def _restart(self) -> None:
        policy = self.spec.restart
        delay = min(policy.backoff_max_s, policy.backoff_s * 2 ** max(0, len(self._crashes) - 1))
        while not self._closed:
            wait = max(delay, self._open_until - self._clock())
            await asyncio.sleep(wait)  # backoff: the module's own pace, not a test's
            try:
                proc = await self._spawn()
            except (ModuleError, OSError, ConfigError) as exc:
                log.warning("module %s: restart failed: %s", self.spec.name, exc)
                delay = min(policy.backoff_max_s, delay * 2)
                continue
            if self._closed:
                await proc.close()
                return
            self._current = proc
            self.stats.restarts += 1
            if self._metrics is not None:
                self._metrics.restarts.inc(module=self.spec.name)
            self._up.set()
            return

    async def wait_up(self) -> ModuleProcess | WasmModule:
        """The serving process, once there is one (for tests and ``gati modules``)."""
        return await self._serving()
