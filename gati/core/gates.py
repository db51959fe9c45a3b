"""Debug gates: pause one live request at a hook boundary, let a person steer it.

A gate names a point (before or after a named hook, or the handler) of a handler or
path, optionally only for requests carrying a header value or ``X-Gati-Debug``. A
request that reaches a matching point waits there, in its own task, so the worker's
other requests (and its partitions) keep flowing; the playground shows it with its
lctx state, and a person resumes it, steps to the next point, or aborts it, editing
the state first if they like. A pause that nobody answers resumes by itself after the
gate's timeout.

Every pause, edit and resume is a lifecycle step (``gate_paused``, ``gate_edited``,
``gate_resumed``), so the record shows what happened and replay does it again:
:class:`RecordedGates` serves the recorded decisions at the same points, never waits,
and applies the same edits, which is what makes a steered request replay identically.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gati.core.envelopes import Stage
from gati.errors import RequestError

DEBUG_HEADER = "x-gati-debug"
ENABLE_IN_PRODUCTION = "GATI_DEBUG_GATES"
DEFAULT_TIMEOUT_S = 60.0
ACTIONS = ("resume", "step", "abort")
POINTS = ("before", "after")


class Steerable(Protocol):
    """What a gate reads and edits of lctx (``LocalContext`` is one)."""

    def get(self, key: str, default: Any = None) -> Any: ...
    def set(self, key: str, value: Any) -> None: ...
    def delete(self, key: str) -> None: ...
    def keys(self) -> list[str]: ...


class Recorder(Protocol):
    """Where gate steps go (``RequestScope`` is one)."""

    request_id: str
    handler_id: str | None

    def record(self, stage: Stage, *, status: int | None = None, error_code: str | None = None,
               detail: Any = None) -> Any: ...


class GatePoints(Protocol):
    """Called by the local context controller at every hook and handler boundary."""

    async def at(self, scope: Recorder, headers: Mapping[str, str], path: str,
                 lctx: Steerable, point: str, target: str) -> None: ...


def gates_allowed(environment: str, env: Mapping[str, str]) -> bool:
    """Gates pause live traffic: never in production unless ``GATI_DEBUG_GATES=1``."""
    return environment != "production" or env.get(ENABLE_IN_PRODUCTION) == "1"


def aborted() -> RequestError:
    return RequestError("aborted at a debug gate", code="debug_aborted", status=409)


@dataclass(frozen=True, slots=True)
class GateSpec:
    """Where to pause: ``point`` ("before"/"after") ``target`` (a hook's name, as its
    function is called, or "handler") of ``handler_id`` or of requests whose path
    starts with ``path``; only requests with ``header`` (name, value) or, with
    ``debug_only``, an ``X-Gati-Debug`` header, when given."""

    gate_id: str
    point: str
    target: str
    handler_id: str | None = None
    path: str | None = None
    header: tuple[str, str] | None = None
    debug_only: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S

    def matches(self, handler_id: str | None, path: str, point: str, target: str,
                headers: Mapping[str, str]) -> bool:
        if (self.point, self.target) != (point, target):
            return False
        if self.handler_id is not None and self.handler_id != handler_id:
            return False
        if self.path is not None and not path.startswith(self.path):
            return False
        if self.header is not None and headers.get(self.header[0]) != self.header[1]:
            return False
        return not self.debug_only or DEBUG_HEADER in headers

    def to_json(self) -> dict[str, Any]:
        return {"gate_id": self.gate_id, "point": self.point, "target": self.target,
                "handler_id": self.handler_id, "path": self.path,
                "header": list(self.header) if self.header else None,
                "debug_only": self.debug_only, "timeout_s": self.timeout_s}

    @classmethod
    def from_json(cls, doc: Any) -> GateSpec | None:
        """The spec ``to_json`` wrote, as a worker reads it off the control topic; None
        when it is not one (a worker skips what it cannot read, it never guesses)."""
        if not isinstance(doc, dict):
            return None
        gate_id, point, target = doc.get("gate_id"), doc.get("point"), doc.get("target")
        handler, path, header = doc.get("handler_id"), doc.get("path"), doc.get("header")
        timeout = doc.get("timeout_s", DEFAULT_TIMEOUT_S)
        if not (isinstance(gate_id, str) and point in POINTS and isinstance(target, str)
                and isinstance(handler, str | None) and isinstance(path, str | None)
                and (handler or path) and isinstance(timeout, int | float)
                and not isinstance(timeout, bool) and 0 < timeout <= 3600):
            return None
        pair = None
        if header is not None:
            if not (isinstance(header, list) and len(header) == 2
                    and all(isinstance(h, str) for h in header)):
                return None
            pair = (header[0], header[1])
        return cls(gate_id, point, target, handler_id=handler, path=path, header=pair,
                   debug_only=doc.get("debug_only") is True, timeout_s=float(timeout))


@dataclass(frozen=True, slots=True)
class Decision:
    action: str  # resume, step, abort, or timeout (nobody answered)
    set: Mapping[str, Any] = field(default_factory=dict)
    delete: tuple[str, ...] = ()


@dataclass(slots=True)
class Pause:
    """A request waiting at a gate, with its lctx state as it was when it stopped."""

    pause_id: str
    gate_id: str
    request_id: str
    handler_id: str | None
    point: str
    target: str
    state: dict[str, Any]
    decided: asyncio.Future[Decision]
    shown: Any = None  # the state as recorded (secrets masked): what the playground shows

    def to_json(self) -> dict[str, Any]:
        return {"pause_id": self.pause_id, "gate_id": self.gate_id,
                "request_id": self.request_id, "handler_id": self.handler_id,
                "point": self.point, "target": self.target,
                "state": self.state if self.shown is None else self.shown}


def _state(lctx: Steerable) -> dict[str, Any]:
    return {k: copy.deepcopy(lctx.get(k)) for k in list(lctx.keys())}


def _steer(scope: Recorder, lctx: Steerable, decision: Decision) -> None:
    """Apply and record a decision: the edit first (if any), then the resume."""
    if decision.set or decision.delete:
        for key, value in decision.set.items():
            lctx.set(key, value)
        for key in decision.delete:
            lctx.delete(key)
        scope.record(Stage.GATE_EDITED, detail={"set": dict(decision.set),
                                                "delete": list(decision.delete)})
    scope.record(Stage.GATE_RESUMED, detail={"action": decision.action})
    if decision.action == "abort":
        raise aborted()


class DebugGates:
    """The live gates of one worker process, and the requests paused at them."""

    def __init__(self) -> None:
        self._gates: dict[str, GateSpec] = {}
        self._paused: dict[str, Pause] = {}
        self._stepping: set[str] = set()  # request ids to pause at their next point
        self._ids = itertools.count(1)
        self._arrived: asyncio.Event | None = None  # set when a request pauses

    async def wait_paused(self, request_id: str | None = None,
                          target: str | None = None) -> Pause:
        """The first paused request (of ``request_id``, at ``target``), once there is one."""
        while True:
            for p in self._paused.values():
                if request_id in (None, p.request_id) and target in (None, p.target):
                    return p
            if self._arrived is None:
                self._arrived = asyncio.Event()
            await self._arrived.wait()

    def add(self, spec: GateSpec) -> GateSpec:
        self._gates[spec.gate_id] = spec
        return spec

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    def remove(self, gate_id: str) -> bool:
        return self._gates.pop(gate_id, None) is not None

    def gates(self) -> list[GateSpec]:
        return list(self._gates.values())

    async def flush(self) -> None:
        """Nothing to send: these gates are the worker's own (the remote table sends)."""

    def in_force(self) -> dict[str, list[str]]:
        """The gates in force by worker: here, the one in this process."""
        return {"in process": sorted(self._gates)}

    def paused(self) -> list[Pause]:
        return list(self._paused.values())

    def decide(self, pause_id: str, decision: Decision) -> bool:
        """Answer a paused request; False when it is not (or no longer) paused."""
        pause = self._paused.get(pause_id)
        if pause is None or pause.decided.done():
            return False
        pause.decided.set_result(decision)
        return True

    def _gate_for(self, scope: Recorder, headers: Mapping[str, str], path: str, point: str,
                  target: str) -> tuple[str, float] | None:
        if scope.request_id in self._stepping:
            self._stepping.discard(scope.request_id)
            return "step", DEFAULT_TIMEOUT_S
        for gate in self._gates.values():
            if gate.matches(scope.handler_id, path, point, target, headers):
                return gate.gate_id, gate.timeout_s
        return None

    async def at(self, scope: Recorder, headers: Mapping[str, str], path: str,
                 lctx: Steerable, point: str, target: str) -> None:
        if not self._gates and not self._stepping:
            return
        found = self._gate_for(scope, {k.lower(): v for k, v in headers.items()}, path, point,
                               target)
        if found is None:
            return
        gate_id, timeout_s = found
        pause = Pause(self.new_id("pause"), gate_id, scope.request_id, scope.handler_id,
                      point, target, _state(lctx), asyncio.get_running_loop().create_future())
        dumps = getattr(scope, "dumps", None)  # RequestScope's: masked as the record is
        if callable(dumps):
            pause.shown = json.loads(dumps(pause.state))
        scope.record(Stage.GATE_PAUSED, detail={
            "gate": gate_id, "point": point, "target": target, "state": pause.state,
            "timeout_s": timeout_s})
        self._paused[pause.pause_id] = pause
        if self._arrived is not None:
            self._arrived.set()
            self._arrived = None
        try:
            decision = await asyncio.wait_for(asyncio.shield(pause.decided), timeout_s)
        except TimeoutError:
            decision = Decision("timeout")
        finally:
            del self._paused[pause.pause_id]
        if decision.action == "step":
            self._stepping.add(scope.request_id)
        _steer(scope, lctx, decision)


class RecordedGates:
    """Replay's gates: the recorded pauses, in order, decided as they were."""

    def __init__(self, steps: Iterable[Any]) -> None:
        self._plan: list[tuple[str, str, Decision]] = []
        edit: dict[str, Any] = {}
        point = target = None
        for step in steps:
            d = step.detail if isinstance(step.detail, dict) else {}
            if step.stage == Stage.GATE_PAUSED:
                point, target, edit = d.get("point"), d.get("target"), {}
            elif step.stage == Stage.GATE_EDITED:
                edit = d
            elif step.stage == Stage.GATE_RESUMED and point is not None and target is not None:
                self._plan.append((point, target, Decision(
                    str(d.get("action")), dict(edit.get("set") or {}),
                    tuple(edit.get("delete") or ()))))
                point = target = None

    async def at(self, scope: Recorder, headers: Mapping[str, str], path: str,
                 lctx: Steerable, point: str, target: str) -> None:
        if not self._plan or self._plan[0][:2] != (point, target):
            return
        _, _, decision = self._plan.pop(0)
        scope.record(Stage.GATE_PAUSED, detail={"gate": "replay", "point": point,
                                                "target": target, "state": _state(lctx)})
        _steer(scope, lctx, decision)
