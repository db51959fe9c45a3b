"""What a recorded step says, as types: one frozen dataclass per effect kind.

A handler's effects are recorded as ``effect`` lifecycle steps whose detail is a JSON
object tagged by ``kind``. Each kind here owns its detail: ``to_detail()`` writes it,
``from_detail()`` reads it back, ``describe()`` names it in a replay's divergence, and
``effect_from_detail`` dispatches on the tag. Every reader of the record (replay,
compare, ``gati history``) goes through these, never through dict keys, so the detail
format lives in exactly one place.

The format is users' data: records written by earlier versions must load. So the
details written are byte-for-byte what they always were, a kind this version does not
know loads as ``UnknownEffect`` (keeping its dict), and keys a kind does not define
(the ``replayed`` / ``from_journal`` marks of a served step, or keys a later version
adds) ride along in ``extra`` and are written back after the kind's own.

Adding a kind: a dataclass here (its row in ``_KINDS``, and its replay rule: ``key()``,
what a replay must ask again to be served it), its summary in ``gati/cli/render.py``
(``effect_summary``), and the call that performs it through ``Effects.perform``. The
ledgers, live and replay, need nothing new; only module calls and secrets, which carry
journal and lookup rules of their own, have methods there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Self

Detail = dict[str, Any]

# The marks a served effect step carries: a replay's (``replayed``) or a resumption's
# (``from_journal``, served from the effect journal of the attempt that died).
REPLAYED = "replayed"
FROM_JOURNAL = "from_journal"


def describe_call(module: str, method: str, args: Any, kwargs: Any) -> str:
    """``db.get('u1', 2, full=True)``: a call as a divergence message names it."""
    parts = [
        json.dumps(a, ensure_ascii=False) if not isinstance(a, str) else repr(a)
        for a in (args or [])
    ]
    parts += [f"{k}={v!r}" for k, v in (kwargs or {}).items()]
    return f"{module}.{method}({', '.join(parts)})"


def _rest(detail: Mapping[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in detail.items() if k not in known}


@dataclass(frozen=True, slots=True)
class Effect:
    """One input a handler got from outside its arguments. Subclasses are the kinds."""

    kind: ClassVar[str] = ""
    # Keys of the recorded detail this kind does not define, in their recorded order.
    extra: Mapping[str, Any] = field(default_factory=dict, kw_only=True)

    def to_detail(self) -> Detail:
        raise NotImplementedError

    @classmethod
    def from_detail(cls, detail: Mapping[str, Any]) -> Self:
        raise NotImplementedError

    def describe(self) -> str:
        """The effect as a divergence names it: ``a clock read``, ``db.get('u1')``."""
        return f"a {self.kind} effect"

    def key(self) -> tuple[Any, ...]:
        """What a replayed effect must repeat to be served this recorded one (besides
        its kind): the request part, not the outcome. A clock read asks nothing."""
        return ()

    def served(self, mark: str) -> Self:
        """This recorded effect as the step that serves it again (``replayed`` ...)."""
        return replace(self, extra={**self.extra, mark: True})

    @property
    def is_served(self) -> bool:
        """Served from a record or journal rather than performed."""
        return bool(self.extra.get(REPLAYED) or self.extra.get(FROM_JOURNAL))


@dataclass(frozen=True, slots=True)
class RecordedError:
    """An exception as recorded: its class name, message and importable path."""

    type: str
    message: str
    cls: str | None = None

    @classmethod
    def of(cls, exc: BaseException) -> RecordedError:
        kind = type(exc)
        return cls(kind.__name__, str(exc), f"{kind.__module__}.{kind.__qualname__}")

    def to_detail(self) -> Detail:
        out: Detail = {"type": self.type, "message": self.message}
        if self.cls is not None:
            out["class"] = self.cls
        return out

    @classmethod
    def from_detail(cls, detail: Mapping[str, Any]) -> RecordedError:
        path = detail.get("class")
        return cls(str(detail.get("type", "Exception")), str(detail.get("message", "")),
                   None if path is None else str(path))


@dataclass(frozen=True, slots=True)
class ModuleCall(Effect):
    """``gctx.modules.<module>.<method>(*args, **kwargs)`` and its result or error."""

    kind: ClassVar[str] = "module"
    _KEYS: ClassVar[tuple[str, ...]] = ("kind", "module", "method", "args", "kwargs",
                                        "duration_ms", "attempts", "result", "error")
    module: str
    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    # None: never timed (a call failed closed on resumption, not made).
    duration_ms: float | None = None
    attempts: int = 1
    result: Any = None
    error: RecordedError | None = None

    def to_detail(self) -> Detail:
        out: Detail = {"kind": self.kind, "module": self.module, "method": self.method,
                       "args": list(self.args), "kwargs": dict(self.kwargs)}
        if self.duration_ms is not None:
            out["duration_ms"] = self.duration_ms
        out["attempts"] = self.attempts
        if self.error is None:
            out["result"] = self.result
        else:
            out["error"] = self.error.to_detail()
        out.update(self.extra)
        return out

    @classmethod
    def from_detail(cls, detail: Mapping[str, Any]) -> Self:
        error = detail.get("error")
        return cls(
            module=str(detail["module"]), method=str(detail["method"]),
            args=tuple(detail.get("args") or ()), kwargs=dict(detail.get("kwargs") or {}),
            duration_ms=detail.get("duration_ms"), attempts=int(detail.get("attempts", 1)),
            result=detail.get("result"),
            error=None if error is None else RecordedError.from_detail(error),
            extra=_rest(detail, cls._KEYS),
        )

    def describe(self) -> str:
        return describe_call(self.module, self.method, list(self.args), dict(self.kwargs))

    def same_call(self, other: ModuleCall) -> bool:
        """The replay rule: same module, method and (JSON) arguments."""
        return (self.module, self.method, list(self.args), dict(self.kwargs)) == (
            other.module, other.method, list(other.args), dict(other.kwargs))


@dataclass(frozen=True, slots=True)
class ClockRead(Effect):
    """``lctx.now()`` / ``lctx.now_us()``: epoch microseconds."""

    kind: ClassVar[str] = "clock"
    value: int

    def to_detail(self) -> Detail:
        return {"kind": self.kind, "value": self.value, **self.extra}

    @classmethod
    def from_detail(cls, detail: Mapping[str, Any]) -> Self:
        return cls(int(detail["value"]), extra=_rest(detail, ("kind", "value")))

    def describe(self) -> str:
        return "a clock read"


@dataclass(frozen=True, slots=True)
class RandomDraw(Effect):
    """``lctx.random()``: a float in [0, 1)."""

    kind: ClassVar[str] = "random"
    value: float

    def to_detail(self) -> Detail:
        return {"kind": self.kind, "value": self.value, **self.extra}

    @classmethod
    def from_detail(cls, detail: Mapping[str, Any]) -> Self:
        return cls(float(detail["value"]), extra=_rest(detail, ("kind", "value")))

    def describe(self) -> str:
        return "a random draw"


@dataclass(frozen=True, slots=True)
class UuidDraw(Effect):
    """``lctx.uuid()``: a random (version 4) UUID, as text."""

    kind: ClassVar[str] = "uuid"
    value: str

    def to_detail(self) -> Detail:
        return {"kind": self.kind, "value": self.value, **self.extra}

    @classmethod
    def from_detail(cls, detail: Mapping[str, Any]) -> Self:
        return cls(str(detail["value"]), extra=_rest(detail, ("kind", "value")))

    def describe(self) -> str:
        return "a uuid"


@dataclass(frozen=True, slots=True)
class SecretLookup(Effect):
    """``gctx.secrets.get(name)``: whether it exists and its mask token, never its value."""

    kind: ClassVar[str] = "secret"
    name: str
    found: bool
    mask: str | None = None

    def to_detail(self) -> Detail:
        out: Detail = {"kind": self.kind, "name": self.name, "found": self.found}
        if self.mask is not None:
            out["mask"] = self.mask
        out.update(self.extra)
        return out

    @classmethod
    def from_detail(cls, detail: Mapping[str, Any]) -> Self:
        mask = detail.get("mask")
        return cls(str(detail["name"]), bool(detail.get("found")),
                   None if mask is None else str(mask),
                   extra=_rest(detail, ("kind", "name", "found", "mask")))

    def describe(self) -> str:
        return f"secret {self.name!r}"


@dataclass(frozen=True, slots=True)
class Sleep(Effect):
    """``await lctx.sleep(seconds)``: a wait the handler asked for. Replay does not wait."""

    kind: ClassVar[str] = "sleep"
    seconds: float

    def to_detail(self) -> Detail:
        return {"kind": self.kind, "seconds": self.seconds, **self.extra}

    @classmethod
    def from_detail(cls, detail: Mapping[str, Any]) -> Self:
        return cls(float(detail["seconds"]), extra=_rest(detail, ("kind", "seconds")))

    def key(self) -> tuple[Any, ...]:
        return (self.seconds,)

    def describe(self) -> str:
        return f"a {self.seconds:g} s sleep"


@dataclass(frozen=True, slots=True)
class UnknownEffect(Effect):
    """A kind this version does not know (or a detail it cannot read): kept as recorded."""

    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def tag(self) -> Any:
        return self.detail.get("kind")

    def to_detail(self) -> Detail:
        return {**self.detail, **self.extra}

    @classmethod
    def from_detail(cls, detail: Mapping[str, Any]) -> Self:
        return cls(dict(detail))

    def describe(self) -> str:
        return f"a {self.tag} effect"


# The kinds, by their tag: ``effect_from_detail`` reads a detail as the kind it names.
_KINDS: dict[str, type[Effect]] = {
    cls.kind: cls
    for cls in (ModuleCall, ClockRead, RandomDraw, UuidDraw, SecretLookup, Sleep)
}


def effect_from_detail(detail: Mapping[str, Any] | Any) -> Effect:
    """The typed effect a recorded ``effect`` step's detail describes.

    Never raises: an unknown kind, or a known kind whose detail lacks what it needs (a
    hand-edited or truncated record), loads as ``UnknownEffect`` with the dict kept; a
    detail that is no JSON object at all, as an empty one.
    """
    if not isinstance(detail, Mapping):
        return UnknownEffect({})
    cls = _KINDS.get(detail.get("kind"))  # type: ignore[arg-type]
    if cls is None:
        return UnknownEffect(dict(detail))
    try:
        return cls.from_detail(detail)
    except (KeyError, TypeError, ValueError, AttributeError):
        return UnknownEffect(dict(detail))


@dataclass(frozen=True, slots=True)
class CallIntent:
    """A ``calling`` step: a journaled module call about to be made."""

    module: str
    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def to_detail(self) -> Detail:
        return {"module": self.module, "method": self.method, "args": list(self.args),
                "kwargs": dict(self.kwargs)}

    @classmethod
    def from_detail(cls, detail: Mapping[str, Any]) -> CallIntent:
        return cls(str(detail.get("module", "?")), str(detail.get("method", "?")),
                   tuple(detail.get("args") or ()), dict(detail.get("kwargs") or {}))

    def describe(self) -> str:
        return describe_call(self.module, self.method, list(self.args), dict(self.kwargs))


@dataclass(frozen=True, slots=True)
class LogLine:
    """A ``log`` step (``lctx.log.info(...)``): level, message, then the line's fields."""

    level: str
    message: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    def to_detail(self) -> Detail:
        return {"level": self.level, "message": self.message, **self.fields}

    @classmethod
    def from_detail(cls, detail: Mapping[str, Any]) -> LogLine:
        return cls(str(detail.get("level", "?")), str(detail.get("message", "")),
                   _rest(detail, ("level", "message")))
