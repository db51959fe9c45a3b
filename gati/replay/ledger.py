"""Effects served from the record, in order, failing closed.

Each effect the replayed code asks for must be the next one recorded: same kind, and
for module calls the same module, method and arguments. Then it gets the recorded value
(or the recorded exception, raised again as its original class where it can be
imported). Anything else is a divergence, reported once, at the first step where it
happened; no real module is ever called unless the replay is explicitly live.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gati.core.context import SecretNotFound
from gati.core.effects import CallPolicy, EffectOutcomeUnknown, Effects
from gati.core.envelopes import Stage
from gati.core.redact import MASK, Secret
from gati.core.scope import RequestScope, to_jsonable
from gati.errors import ReplayDivergence
from gati.replay.record import Step


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


def describe_call(module: str, method: str, args: Any, kwargs: Any) -> str:
    parts = [
        json.dumps(a, ensure_ascii=False) if not isinstance(a, str) else repr(a)
        for a in (args or [])
    ]
    parts += [f"{k}={v!r}" for k, v in (kwargs or {}).items()]
    return f"{module}.{method}({', '.join(parts)})"


def describe_effect(detail: dict[str, Any]) -> str:
    kind = detail.get("kind")
    if kind == "module":
        return describe_call(
            detail.get("module", "?"),
            detail.get("method", "?"),
            detail.get("args"),
            detail.get("kwargs"),
        )
    if kind == "secret":
        return f"secret {detail.get('name')!r}"
    return {"clock": "a clock read", "random": "a random draw", "uuid": "a uuid"}.get(
        str(kind), f"a {kind} effect"
    )


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
        on_divergence: Callable[[Divergence], None],
    ) -> None:
        self.scope = scope
        self._recorded = recorded
        self._cursor = 0
        self._live = live
        self._then = then
        # A call the dead worker had started (a resumption): never made again.
        self._pending = pending
        self._mark = "replayed" if then is None else "from_journal"
        self._diverged = on_divergence

    @property
    def _exhausted(self) -> bool:
        return self._then is not None and self._cursor >= len(self._recorded)

    @property
    def unused(self) -> list[Step]:
        return self._recorded[self._cursor :]

    def _next(self, wanted: str) -> Step:
        if self._cursor >= len(self._recorded):
            n = len(self._recorded) + 1
            self._fail(
                Divergence(
                    None,
                    "effect",
                    f"effect {n}: replay made {wanted}, the record has no more effects",
                    None,
                    wanted,
                )
            )
        step = self._recorded[self._cursor]
        self._cursor += 1
        return step

    def _fail(self, divergence: Divergence) -> None:
        self._diverged(divergence)
        raise ReplayDivergence(divergence.message)

    def _value(self, kind: str, wanted: str) -> Any:
        step = self._next(wanted)
        if step.detail.get("kind") != kind:
            self._fail(
                Divergence(
                    step.seq,
                    "effect",
                    f"effect {self._cursor} (step {step.seq}): recorded "
                    f"{describe_effect(step.detail)}, replay made {wanted}",
                    describe_effect(step.detail),
                    wanted,
                )
            )
        self.scope.record(Stage.EFFECT, detail={**step.detail, self._mark: True})
        return step.detail.get("value")

    def clock_us(self) -> int:
        if self._then is not None and self._exhausted:
            return self._then.clock_us()
        return int(self._value("clock", "a clock read"))

    def random(self) -> float:
        if self._then is not None and self._exhausted:
            return self._then.random()
        return float(self._value("random", "a random draw"))

    def uuid(self) -> str:
        if self._then is not None and self._exhausted:
            return self._then.uuid()
        return str(self._value("uuid", "a uuid"))

    def secret(self, name: str, lookup: Callable[[], Secret]) -> Secret:
        if self._then is not None and self._exhausted:
            return self._then.secret(name, lookup)
        wanted = f"secret {name!r}"
        step = self._next(wanted)
        if step.detail.get("kind") != "secret" or step.detail.get("name") != name:
            self._fail(Divergence(step.seq, "effect",
                                  f"effect {self._cursor} (step {step.seq}): recorded "
                                  f"{describe_effect(step.detail)}, replay read {wanted}",
                                  describe_effect(step.detail), wanted))
        if self._then is not None:
            return self._then.secret(name, lookup)
        self.scope.record(Stage.EFFECT, detail={**step.detail, "replayed": True})
        if not step.detail.get("found"):
            raise SecretNotFound(f"secret {name!r} is not defined")
        # The value was never recorded; replay sees the token it was recorded as.
        return Secret(name, str(step.detail.get("mask", MASK)))

    async def call(
        self,
        module: str,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        invoke: Callable[[], Any],
        policy: CallPolicy,
    ) -> Any:
        if self._then is not None and self._exhausted:
            if self._pending is not None:
                return self._unknown(module, method, args, kwargs)
            return await self._then.call(module, method, args, kwargs, invoke, policy)
        jargs, jkwargs = to_jsonable(list(args)), to_jsonable(kwargs)
        if self.scope.redactor.active:
            jargs = json.loads(self.scope.redactor.scrub(json.dumps(jargs)))
            jkwargs = json.loads(self.scope.redactor.scrub(json.dumps(jkwargs)))
        wanted = describe_call(module, method, jargs, jkwargs)
        step = self._next(wanted)
        d = step.detail
        same = (
            d.get("kind") == "module"
            and d.get("module") == module
            and d.get("method") == method
            and d.get("args") == jargs
            and (d.get("kwargs") or {}) == jkwargs
        )
        if not same:
            self._fail(
                Divergence(
                    step.seq,
                    "effect",
                    f"effect {self._cursor} (step {step.seq}): recorded "
                    f"{describe_effect(d)}, replay called {wanted}",
                    describe_effect(d),
                    wanted,
                )
            )
        if self._live is not None:
            return await self._live.call(module, method, args, kwargs, invoke, policy)
        self.scope.record(
            Stage.EFFECT,
            detail={**d, self._mark: True},
            error_code=None if "error" not in d else "module_error",
        )
        if "error" in d:
            raise rebuild_error(d["error"])
        return d.get("result")


    def _unknown(self, module: str, method: str, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Any:
        """The resumed handler reached the call its dead worker was in: fail it closed,
        recorded as that call's error so the request replays the same."""
        pending, self._pending = self._pending, None
        assert pending is not None
        wanted = describe_call(module, method, to_jsonable(list(args)), to_jsonable(kwargs))
        d = pending.detail
        started = describe_call(d.get("module", "?"), d.get("method", "?"), d.get("args"),
                                d.get("kwargs"))
        if started != wanted:
            self._fail(Divergence(pending.seq, "effect",
                                  f"step {pending.seq}: the journal holds a call to {started} "
                                  f"in progress, resumption called {wanted}", started, wanted))
        exc = EffectOutcomeUnknown(
            f"{module}.{method} was in progress when the worker running this request died "
            f"(step {pending.seq}); it may have happened, so it is not made again")
        cls = type(exc)
        self.scope.record(Stage.EFFECT, error_code="module_error", detail={
            "kind": "module", "module": module, "method": method,
            "args": to_jsonable(list(args)), "kwargs": to_jsonable(kwargs), "attempts": 0,
            "error": {"type": cls.__name__, "message": str(exc),
                      "class": f"{cls.__module__}.{cls.__qualname__}"}})
        raise exc


def rebuild_error(error: dict[str, Any]) -> Exception:
    """The recorded exception, as its own class if importable and constructible."""
    path = str(error.get("class", ""))
    message = str(error.get("message", ""))
    module_name, _, qualname = path.rpartition(".")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        if isinstance(obj, type) and issubclass(obj, Exception):
            return obj(message)
    except Exception:  # any failure to rebuild falls back to the generic carrier
        pass
    return ReplayedModuleError(str(error.get("type", "Exception")), message)
