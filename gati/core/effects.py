"""Effects: every input a handler gets from outside its arguments, recorded in order.

Module calls, clock reads, random draws and generated ids go through an ``Effects``
ledger. The live ledger performs them and records each as an ``effect`` lifecycle step
(kind, call, result or error, duration); a replay ledger (``gati.replay``) serves the
recorded values instead, in the same order, so a re-run sees exactly what the original
saw and never calls a real module.
"""

from __future__ import annotations

import asyncio
import inspect
import random as _random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from gati.core.envelopes import Stage
from gati.core.record import (
    CallIntent,
    ClockRead,
    Effect,
    LogLine,
    ModuleCall,
    RandomDraw,
    RecordedError,
    SecretLookup,
    UuidDraw,
)
from gati.core.redact import Secret
from gati.core.scope import RequestScope, to_jsonable
from gati.errors import GatiError

E = TypeVar("E", bound=Effect)


@dataclass(frozen=True, slots=True)
class CallPolicy:
    """Timeout and retries of a module's calls; retries only for transient errors."""

    timeout_s: float | None = 10.0
    retries: int = 0
    retry_on: tuple[type[BaseException], ...] = (TimeoutError, ConnectionError)
    backoff_s: float = 0.05
    # Journal each call before its result reaches the handler, so a request resumed
    # after its worker died never performs it again. Off for a module whose calls are
    # read-only: they save a log write each and are simply made again on resumption.
    journal: bool = True


class JournalUnavailable(GatiError):
    """A call's intent could not be journaled, so the call was not made: a 503 that is
    true only while nothing else of the request has happened yet (see ``LiveEffects``)."""

    code = "journal_unavailable"
    status = 503


class EffectOutcomeUnknown(GatiError):
    """A resumed request reached a call its dead worker had started: it may have
    happened, so it is not made again; the request fails closed, and says so."""

    code = "effect_outcome_unknown"
    status = 500


class JournalSink(Protocol):
    """Where a worker makes a request's steps durable while the request still runs.

    ``write`` returns once the log holds every step of ``scope`` recorded so far (it
    advances ``scope.durable_through``); a redelivered request resumes from them.
    ``until_taken``: wait while the log is down instead of raising JournalUnavailable
    (the caller's deadline still cancels the wait).
    """

    async def write(self, scope: RequestScope, *, until_taken: bool = False) -> None: ...


class ModuleTimeout(GatiError, TimeoutError):
    """Also a TimeoutError, so the default ``retry_on`` retries a module's own timeout."""

    code = "module_timeout"
    status = 504


class Effects(Protocol):
    def clock_us(self) -> int: ...

    def random(self) -> float: ...

    def uuid(self) -> str: ...

    def secret(self, name: str, lookup: Callable[[], Secret]) -> Secret:
        """A secret by name: whether it exists is recorded, its value never."""
        ...

    async def call(
        self, module: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any],
        invoke: Callable[[], Any], policy: CallPolicy,
    ) -> Any: ...

    async def perform(self, wanted: E, act: Callable[[], Awaitable[E]]) -> E:
        """Any other kind: live, ``act()`` performs it and the effect it returns is
        recorded; replayed, the next recorded effect is served if it is of ``wanted``'s
        kind and ``key``, and ``act`` is not called."""
        ...


class LiveEffects:
    """Performs effects for real and records each one."""

    def __init__(self, scope: RequestScope, rng: _random.Random | None = None, *,
                 journal: JournalSink | None = None, made_calls: bool = False) -> None:
        self.scope = scope
        self._given = rng
        self.journal = journal
        # Whether a journaled call of this request has been made (here, or by an
        # earlier attempt this one resumes): from then on a 503 would tell the client
        # that nothing happened, which is false, so a journal outage is waited out.
        self.made_calls = made_calls

    @property
    def _rng(self) -> _random.Random:
        # Seeding from os.urandom costs more than most requests' draws: only on first use.
        if self._given is None:
            self._given = _random.Random()
        return self._given

    def _record(self, effect: Effect, error_code: str | None = None) -> None:
        self.scope.record(Stage.EFFECT, detail=effect.to_detail(), error_code=error_code)

    def clock_us(self) -> int:
        value = self.scope.clock.now_us()
        self._record(ClockRead(value))
        return value

    def random(self) -> float:
        value = self._rng.random()
        self._record(RandomDraw(value))
        return value

    def uuid(self) -> str:
        value = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        self._record(UuidDraw(value))
        return value

    def secret(self, name: str, lookup: Callable[[], Secret]) -> Secret:
        try:
            found = lookup()
        except GatiError:
            self._record(SecretLookup(name, found=False))
            raise
        # The value's token, never the value: replay hands the handler this token.
        self._record(SecretLookup(name, found=True,
                                  mask=self.scope.redactor.masker.mask(found.reveal())))
        return found

    async def perform(self, wanted: E, act: Callable[[], Awaitable[E]]) -> E:
        effect = await act()
        self._record(effect)
        return effect

    async def call(
        self, module: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any],
        invoke: Callable[[], Any], policy: CallPolicy,
    ) -> Any:
        journaled = self.journal is not None and policy.journal
        started = time.perf_counter()
        if journaled:
            await self._intend(module, method, args, kwargs, started)
            self.made_calls = True
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await _bounded(invoke, policy.timeout_s, module, method)
            except policy.retry_on as exc:
                if attempt <= policy.retries:
                    await asyncio.sleep(policy.backoff_s * attempt)
                    continue
                self._record_call(module, method, args, kwargs, started, attempt, error=exc)
                await self._settle(journaled)
                raise
            except Exception as exc:
                self._record_call(module, method, args, kwargs, started, attempt, error=exc)
                await self._settle(journaled)
                raise
            self._record_call(module, method, args, kwargs, started, attempt, result=result)
            await self._settle(journaled)
            return result

    async def _intend(self, module: str, method: str, args: tuple[Any, ...],
                      kwargs: dict[str, Any], started: float) -> None:
        """Journal the call before making it: at most once, even if the worker dies in it.

        Before the request's first call, a journal that cannot be written fails the call
        before it is made, recorded as the call's error: the request's 503 means nothing
        happened, and its replay answers the same. After a call was made, the write waits
        for the log instead (bounded by the handler's deadline, whose 504 says "may
        have run"), since a 503 would then hide an effect that happened.
        """
        assert self.journal is not None
        intent = CallIntent(module, method, tuple(to_jsonable(list(args))),
                            to_jsonable(kwargs))
        self.scope.record(Stage.CALLING, detail=intent.to_detail())
        try:
            await self.journal.write(self.scope, until_taken=self.made_calls)
        except JournalUnavailable as exc:
            self._record_call(module, method, args, kwargs, started, 0, error=exc)
            raise

    async def _settle(self, journaled: bool) -> None:
        """Journal the call's result, so a resumption can serve it instead of failing it
        as of unknown outcome. Not fatal: it also rides with the request's outputs."""
        if not journaled:
            return
        assert self.journal is not None
        try:
            await self.journal.write(self.scope)
        except JournalUnavailable as exc:
            line = LogLine("warning", exc.message, {"code": exc.code})
            self.scope.record(Stage.LOG, detail=line.to_detail())
        except asyncio.CancelledError:
            self.scope.result_withheld = True  # the handler's timeout, before it saw it
            raise

    def _record_call(
        self, module: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any],
        started: float, attempts: int, *, result: Any = None,
        error: BaseException | None = None,
    ) -> None:
        effect = ModuleCall(
            module, method, tuple(to_jsonable(list(args))), to_jsonable(kwargs),
            duration_ms=round((time.perf_counter() - started) * 1000, 3), attempts=attempts,
            result=None if error is not None else to_jsonable(result),
            error=None if error is None else RecordedError.of(error))
        self._record(effect, None if error is None else "module_error")

async def _bounded(invoke: Callable[[], Any], timeout_s: float | None, module: str,
                   method: str) -> Any:
    async def run() -> Any:
        result = invoke()
        if inspect.isawaitable(result):
            result = await result
        return result

    if timeout_s is None:
        return await run()
    budget = asyncio.timeout(timeout_s)
    try:
        async with budget:
            return await run()
    except TimeoutError:
        if not budget.expired():
            raise
        raise ModuleTimeout(f"{module}.{method} did not answer within {timeout_s}s") from None


class ModuleProxy:
    """``gctx.modules.db`` for one request: each method call is an effect."""

    __slots__ = ("_effects", "_instance", "_name", "_policy")

    def __init__(self, name: str, instance: Any, effects: Effects, policy: CallPolicy) -> None:
        self._name = name
        self._instance = instance
        self._effects = effects
        self._policy = policy

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self._instance, attr)
        if attr.startswith("_") or not callable(target):
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await self._effects.call(
                self._name, attr, args, kwargs, lambda: target(*args, **kwargs), self._policy
            )

        call.__name__ = attr
        return call

    def __repr__(self) -> str:
        return f"<module {self._name}>"


Invoke = Callable[[], Awaitable[Any] | Any]
