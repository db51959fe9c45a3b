"""What a test gets back: the response plus everything the request recorded.

Effects and log lines are read back from the lifecycle events, not captured on the
side, so a test asserts on exactly what the recorder would store (secrets masked,
arguments in their JSON form, as replay will see them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gati.core.envelopes import Headers, LifecycleEvent, Stage
from gati.core.scope import Publication

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Effect:
    """One recorded effect: a module call, or a clock, random or uuid draw.

    Module calls fill ``module``, ``method``, ``args``, ``kwargs``, ``attempts``,
    ``duration_ms`` and ``result`` or ``error`` (``{"type", "message"}``); draws fill
    ``value``.
    """

    kind: str
    module: str | None = None
    method: str | None = None
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    result: Any = None
    error: Mapping[str, Any] | None = None
    value: Any = None
    attempts: int = 0
    duration_ms: float = 0.0

    @property
    def name(self) -> str:
        """``module.method`` for module calls, else the kind."""
        return f"{self.module}.{self.method}" if self.kind == "module" else self.kind

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class LogLine:
    """A line written with ``lctx.log``."""

    level: str
    message: str
    fields: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


def _detail(event: LifecycleEvent) -> dict[str, Any]:
    if event.detail is None:
        return {}
    value = json.loads(event.detail)
    return value if isinstance(value, dict) else {"value": value}


def parse_effect(event: LifecycleEvent) -> Effect:
    d = _detail(event)
    kind = str(d.get("kind", "unknown"))
    if kind != "module":
        return Effect(kind=kind, value=d.get("value"))
    return Effect(
        kind=kind, module=d.get("module"), method=d.get("method"),
        args=tuple(d.get("args") or ()), kwargs=MappingProxyType(dict(d.get("kwargs") or {})),
        result=d.get("result"), error=_error(d.get("error")),
        attempts=int(d.get("attempts", 1)),
        duration_ms=float(d.get("duration_ms", 0.0)),
    )


def parse_log_line(event: LifecycleEvent) -> LogLine:
    d = _detail(event)
    level = str(d.pop("level", "info"))
    message = str(d.pop("message", ""))
    return LogLine(level, message, MappingProxyType(d))


def header_map(headers: Headers) -> Mapping[str, str]:
    """Lower-cased names; repeated headers joined with ``", "`` as HTTP allows."""
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return MappingProxyType(merged)


@dataclass(frozen=True, slots=True)
class Result:
    """A handled request: the response and its record.

    Attributes:
        status: the HTTP status answered.
        headers: response headers by lower-cased name.
        body: the raw response body.
        events: every lifecycle event, in ``seq`` order.
        published: global publications (``gctx.publish``) sent with the outcome.
        request_id: the request's id.
        handler_id: the handler that ran, if routing found one.
        raw_headers: the headers as sent, in order, repeats kept.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    events: tuple[LifecycleEvent, ...]
    published: tuple[Publication, ...] = ()
    request_id: str = ""
    handler_id: str | None = None
    raw_headers: Headers = ()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            ValueError: the body is not JSON; the message shows the start of it.
        """
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"response body is not JSON ({exc}): {self.body[:200]!r}") from None

    @property
    def error(self) -> Mapping[str, Any] | None:
        """``{"status", "code", "message", "request_id"}`` of an error body, else None."""
        try:
            value = json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        if isinstance(value, dict) and isinstance(value.get("error"), dict):
            return MappingProxyType(value["error"])
        return None

    @property
    def error_code(self) -> str | None:
        """The error code the request ended with (as recorded), if it failed."""
        for event in reversed(self.events):
            if event.stage == Stage.RESPONDED:
                return event.error_code
        return None

    @property
    def stages(self) -> list[str]:
        return [e.stage for e in self.events]

    @property
    def effects(self) -> tuple[Effect, ...]:
        return tuple(parse_effect(e) for e in self.events if e.stage == Stage.EFFECT)

    def calls(self, name: str | None = None) -> tuple[Effect, ...]:
        """Module-call effects; ``name`` filters by ``"db"`` or ``"db.get_user"``."""
        found = []
        for effect in self.effects:
            if effect.kind != "module":
                continue
            if name is None or name in (effect.module, effect.name):
                found.append(effect)
        return tuple(found)

    @property
    def log_lines(self) -> tuple[LogLine, ...]:
        return tuple(parse_log_line(e) for e in self.events if e.stage == Stage.LOG)

    @property
    def failure(self) -> Mapping[str, Any] | None:
        """What the record says went wrong (exception type, message, where), if anything."""
        for event in self.events:
            if event.stage == Stage.FAILED:
                return MappingProxyType(_detail(event))
        return None


@dataclass(frozen=True, slots=True)
class Invocation(Result):
    """What ``invoke`` returns: a ``Result`` plus the handler's final lctx state.

    Attributes:
        sent: whether the handler sent a response (``status`` is then what it set).
        state: lctx's state after the handler returned.
    """

    sent: bool = False
    state: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


def _error(recorded: Any) -> Any:
    """The type and message of a failed call; the recorded class path is replay's concern."""
    if isinstance(recorded, dict):
        return {k: v for k, v in recorded.items() if k != "class"}
    return recorded
