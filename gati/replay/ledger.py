"""Effects served from the record, in order, failing closed.

Each effect the replayed code asks for must be the next one recorded: same kind, and
for module calls the same module, method and arguments. Then it gets the recorded value
(or the recorded exception, raised again as its original class where it can be
imported). Anything else is a divergence, reported once, at the first step where it
happened; no real module is ever called unless the replay is explicitly live.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from gati.core.context import SecretNotFound
from gati.core.effects import CallPolicy, EffectOutcomeUnknown, Effects
from gati.core.envelopes import Stage
from gati.core.record import (
    FROM_JOURNAL,
    REPLAYED,
    CallIntent,
    ClockRead,
    Effect,
    ModuleCall,
    RandomDraw,
    RecordedError,
    SecretLookup,
    UuidDraw,
    effect_from_detail,
)
from gati.core.redact import MASK, Secret
from gati.core.scope import RequestScope, to_jsonable
from gati.errors import ReplayDivergence
from gati.replay.record import Step

E = TypeVar("E", bound=Effect)


@dataclass(frozen=True, slots=True)
class Divergence:
    """The first place a replay left the record."""

    step: int | None
    kind: str  # effect, trace, response, error
    message: str
    recorded: Any = None
    replayed: Any = None


class ReplayedModuleError(Exception):
    """A recorded module error whose class could not be rebuilt; type and message kept."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(message)
        self.type_name = type_name


class ReplayEffects:
    """Serves ``recorded`` effects in order.

    ``live``: module calls are checked against the record, then made for real
    (``gati replay --live``). ``then``: a request resumed after its worker died; once
    the journaled effects are used up, effects go to ``then`` (live, journaled), and
    secrets are always looked up for real, since the record holds only their tokens.
    """

    def __init__(
        self,
        scope: RequestScope,
        recorded: list[Step],
        *,
        live: Effects | None = None,
        then: Effects | None = None,
        pending: Step | None = None,
        cut_by_timeout: bool = False,
        withhold_last: bool = False,
        on_divergence: Callable[[Divergence], None],
    ) -> None:
        self.scope = scope
        self._recorded = recorded
        self._cursor = 0
        self._live = live
        self._then = then
        # A call the dead worker had started (a resumption): never made again.
        self._pending = pending
        self._mark = REPLAYED if then is None else FROM_JOURNAL
        self._diverged = on_divergence
        # The record shows the handler cut by its timeout after its last effect: the
        # replayed handler is cut where it asks for one more (a call the timeout
        # interrupted, or one it was waiting to journal), not failed as diverged.
        self._cut_by_timeout = cut_by_timeout and live is None and then is None
        # ... or where its last effect's result was being journaled (result_withheld).
        self._withhold_last = withhold_last and self._cut_by_timeout

    @property
    def _exhausted(self) -> bool:
        return self._then is not None and self._cursor >= len(self._recorded)

    async def _cut_if_recorded(self, *, served: bool = False) -> None:
        cut = self._withhold_last if served else self._cut_by_timeout
        if cut and self._cursor >= len(self._recorded) and self.scope.cut_handler is not None:
            self.scope.cut_handler()
            await asyncio.get_running_loop().create_future()  # the timeout cancels it

    @property
    def unused(self) -> list[Step]:
        return self._recorded[self._cursor :]

    def _next(self, wanted: str) -> tuple[Step, Effect]:
        if self._cursor >= len(self._recorded):
            n = len(self._recorded) + 1
            self._fail(Divergence(
                None, "effect", f"effect {n}: replay made {wanted}, the record has no more effects",
                None, wanted))
        step = self._recorded[self._cursor]
        self._cursor += 1
        return step, effect_from_detail(step.detail)

    def _fail(self, divergence: Divergence) -> NoReturn:
        self._diverged(divergence)
        raise ReplayDivergence(divergence.message)

    def _differs(self, step: Step, recorded: Effect, verb: str, wanted: str) -> NoReturn:
        self._fail(Divergence(
            step.seq, "effect", f"effect {self._cursor} (step {step.seq}): recorded "
            f"{recorded.describe()}, replay {verb} {wanted}", recorded.describe(), wanted))

    def _serve(self, recorded: Effect, error_code: str | None = None) -> None:
        """Record the step that hands the replayed code a recorded effect."""
        self.scope.record(Stage.EFFECT, detail=recorded.served(self._mark).to_detail(),
                          error_code=error_code)

    # The replay rule of each kind: what must match the record, and what is served.

    def _value(self, kind: type[E], wanted: str) -> E:
        """A value read from outside (clock, random, uuid): the same kind, next."""
        step, recorded = self._next(wanted)
        if not isinstance(recorded, kind):
            self._differs(step, recorded, "made", wanted)
        self._serve(recorded)
        return recorded

    def clock_us(self) -> int:
        if self._then is not None and self._exhausted:
            return self._then.clock_us()
        return self._value(ClockRead, "a clock read").value

    def random(self) -> float:
        if self._then is not None and self._exhausted:
            return self._then.random()
        return self._value(RandomDraw, "a random draw").value

    def uuid(self) -> str:
        if self._then is not None and self._exhausted:
            return self._then.uuid()
        return self._value(UuidDraw, "a uuid").value

    async def perform(self, wanted: E, act: Callable[[], Awaitable[E]]) -> E:
        """Any other kind: the same kind and ``key()``, next; ``act`` is not called."""
        if self._then is not None and self._exhausted:
            return await self._then.perform(wanted, act)
        await self._cut_if_recorded()
        step, recorded = self._next(wanted.describe())
        if not isinstance(recorded, type(wanted)) or recorded.key() != wanted.key():
            self._differs(step, recorded, "made", wanted.describe())
        self._serve(recorded)
        return recorded

    def secret(self, name: str, lookup: Callable[[], Secret]) -> Secret:
        """The same name, next. The value was never recorded: a replay sees the token it
        was recorded as; a resumption looks it up again."""
        if self._then is not None and self._exhausted:
            return self._then.secret(name, lookup)
        wanted = f"secret {name!r}"
        step, recorded = self._next(wanted)
        if not isinstance(recorded, SecretLookup) or recorded.name != name:
            self._differs(step, recorded, "read", wanted)
        if self._then is not None:
            return self._then.secret(name, lookup)
        self._serve(recorded)
        if not recorded.found:
            raise SecretNotFound(f"secret {name!r} is not defined")
        return Secret(name, MASK if recorded.mask is None else recorded.mask)

    async def call(
        self,
        module: str,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        invoke: Callable[[], Any],
        policy: CallPolicy,
    ) -> Any:
        """The same module, method and arguments, next: its result or error is served
        (or, ``live``, the call is made for real)."""
        if self._then is not None and self._exhausted:
            if self._pending is not None:
                return self._unknown(module, method, args, kwargs)
            return await self._then.call(module, method, args, kwargs, invoke, policy)
        jargs, jkwargs = to_jsonable(list(args)), to_jsonable(kwargs)
        if self.scope.redactor.active:
            jargs = json.loads(self.scope.redactor.scrub(json.dumps(jargs)))
            jkwargs = json.loads(self.scope.redactor.scrub(json.dumps(jkwargs)))
        made = ModuleCall(module, method, tuple(jargs), jkwargs)
        await self._cut_if_recorded()
        step, recorded = self._next(made.describe())
        if not isinstance(recorded, ModuleCall) or not recorded.same_call(made):
            self._differs(step, recorded, "called", made.describe())
        if self._live is not None:
            return await self._live.call(module, method, args, kwargs, invoke, policy)
        self._serve(recorded, None if recorded.error is None else "module_error")
        await self._cut_if_recorded(served=True)
        if recorded.error is not None:
            raise rebuild_error(recorded.error)
        return recorded.result

    def _unknown(self, module: str, method: str, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any:
        """The resumed handler reached the call its dead worker was in: fail it closed,
        recorded as that call's error so the request replays the same."""
        pending, self._pending = self._pending, None
        assert pending is not None
        made = ModuleCall(module, method, tuple(to_jsonable(list(args))), to_jsonable(kwargs),
                          attempts=0)
        started = CallIntent.from_detail(pending.detail).describe()
        if started != made.describe():
            self._fail(Divergence(pending.seq, "effect",
                                  f"step {pending.seq}: the journal holds a call to {started} "
                                  f"in progress, resumption called {made.describe()}", started,
                                  made.describe()))
        exc = EffectOutcomeUnknown(
            f"{module}.{method} was in progress when the worker running this request died "
            f"(step {pending.seq}); it may have happened, so it is not made again")
        failed = ModuleCall(made.module, made.method, made.args, made.kwargs, attempts=0,
                            error=RecordedError.of(exc))
        self.scope.record(Stage.EFFECT, error_code="module_error", detail=failed.to_detail())
        raise exc


def rebuild_error(error: RecordedError) -> Exception:
    """The recorded exception, as its own class if importable and constructible."""
    path = error.cls or ""
    message = error.message
    module_name, _, qualname = path.rpartition(".")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        if isinstance(obj, type) and issubclass(obj, Exception):
            return obj(message)
    except Exception:  # any failure to rebuild falls back to the generic carrier
        pass
    return ReplayedModuleError(error.type, message)
