"""Everything one request's execution writes down, in one place.

The ``RequestScope`` owns the request's trace (ordered lifecycle events with their seq
numbers), scrubs every detail through the redactor before it is stored, and buffers the
global publishes that leave with the outcome. Hooks, effects, logs and snapshots all
write through it, which is what makes the record complete and secret-free by
construction.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gati.core.envelopes import LifecycleEvent, Stage, Trace
from gati.core.ports import Clock
from gati.core.redact import MASK, Redactor, Secret

if TYPE_CHECKING:
    from gati.core.gates import GatePoints

DETAIL_LIMIT = 16_000
# The responded step keeps the whole response, which replay compares against.
RESPONSE_LIMIT = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Publication:
    topic: str
    payload: Any


@dataclass(slots=True)
class RequestScope:
    request_id: str
    clock: Clock
    redactor: Redactor
    handler_id: str | None = None
    worker_id: str | None = None
    trace: Trace = field(init=False)
    outbox: list[Publication] = field(default_factory=list)
    # Values sensitive for this request only (its Authorization header, ...).
    local_secrets: tuple[str, ...] = ()
    # False for a replay: nothing is recorded, so details stay objects (``raw``) and are
    # not serialized, which is most of a replay's cost.
    serialize: bool = True
    raw: list[Any] = field(default_factory=list)
    # Where this attempt's steps start (after an earlier attempt's, when resumed).
    first_seq: int = 0
    # The highest seq already durable in the log (the effect journal wrote it); the
    # worker's final batch carries only the steps after it.
    durable_through: int = -1
    # While the handler runs: ends its time budget now. Replay calls it where the record
    # shows the handler cut by its timeout, so the cut replays without the wait.
    cut_handler: Callable[[], None] | None = None
    # Set live when the timeout cut a call after its effect was recorded, while its
    # journal write was in flight: the handler never saw that result, nor does replay.
    result_withheld: bool = False
    # Replay: the time budget the record's timeout names (the live one was what was left
    # of the deadline), so the replayed 504 says the same.
    recorded_budget_s: float | None = None
    # Debug gates at hook and handler boundaries (live, or replay's recorded ones).
    gates: GatePoints | None = None

    def __post_init__(self) -> None:
        self.trace = Trace(self.request_id, worker_id=self.worker_id, first_seq=self.first_seq)
        self.durable_through = max(self.durable_through, self.first_seq - 1)

    def undurable(self) -> list[LifecycleEvent]:
        """This attempt's steps the log does not hold yet, in order."""
        start = self.durable_through + 1 - self.first_seq
        return self.trace.events[max(0, start):]

    @property
    def events(self) -> list[LifecycleEvent]:
        return self.trace.events

    def record(
        self,
        stage: Stage | str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        detail: Any = None,
        handler_id: str | None = None,
        limit: int = DETAIL_LIMIT,
    ) -> LifecycleEvent:
        if not self.serialize:
            self.raw.append(detail)
            text = None
        else:
            text = None if detail is None else self.dumps(detail, limit)
        return self.trace.add(
            Stage(stage) if not isinstance(stage, Stage) else stage,
            self.clock.now_us(),
            handler_id=handler_id or self.handler_id,
            status=status,
            error_code=error_code,
            detail=text,
        )

    def scrub(self, text: str) -> str:
        if self.redactor.active:
            text = self.redactor.scrub(text)
        for value in self.local_secrets:
            if value in text:
                text = text.replace(value, self.redactor.masker.mask(value))
        return text

    def dumps(self, value: Any, limit: int = DETAIL_LIMIT) -> str:
        """JSON for the record: secrets masked, size bounded."""
        text = self.scrub(json.dumps(to_jsonable(value), separators=(",", ":"),
                                     ensure_ascii=False))
        if len(text) > limit:
            text = json.dumps({"truncated": True, "head": text[: limit - 100]})
        return text


def to_jsonable(value: Any, _depth: int = 0) -> Any:
    """A JSON-ready copy of ``value``; types JSON lacks become tagged strings."""
    if _depth > 32:
        return "<too deep>"
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v, _depth + 1) for v in value]
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, _depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name), _depth + 1)
                for f in dataclasses.fields(value)}
    if isinstance(value, BaseException):
        return {"type": type(value).__name__, "message": str(value)}
    return repr(value)
