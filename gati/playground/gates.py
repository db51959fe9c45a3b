"""The playground's side of debug gates: set, list and lift gates; answer paused requests.

Gates live in the worker (``gati.core.gates.DebugGates``); the playground reaches them
in the worker's process (``gati dev``) or, as ``gati playground``, over the workers'
control topic (``gati.playground.remote``). Everything a client sends is
checked against the app first (the handler exists, the hook is one of its hooks), so a
gate that could never match is refused with the field at fault, and nothing is set.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol

from gati.config import Settings
from gati.core.app import App
from gati.core.gates import (
    ACTIONS,
    DEFAULT_TIMEOUT_S,
    ENABLE_IN_PRODUCTION,
    POINTS,
    Decision,
    GateSpec,
    gates_allowed,
)
from gati.playground.filters import invalid

MAX_TIMEOUT_S = 3600.0


class Shown(Protocol):
    def to_json(self) -> dict[str, Any]: ...


class GateTable(Protocol):
    """Where gates are set and pauses answered: the worker's own ``DebugGates`` under
    ``gati dev``, or ``RemoteGates`` (gati/playground/remote.py) over Kafka workers."""

    def new_id(self, prefix: str) -> str: ...
    def add(self, spec: GateSpec) -> GateSpec: ...
    def remove(self, gate_id: str) -> bool: ...
    def gates(self) -> list[GateSpec]: ...
    def paused(self) -> Sequence[Shown]: ...
    def decide(self, pause_id: str, decision: Decision) -> bool: ...
    async def flush(self) -> None: ...
    def in_force(self) -> dict[str, list[str]]: ...


def hook_names(app: App, handler_id: str | None) -> set[str]:
    """The targets a gate may name: "handler" and the app's hooks by function name
    (global ones, and the route's of ``handler_id``, or of every handler)."""
    specs = [v.target for fam in app.families.values() for v in fam.versions
             if handler_id in (None, fam.handler_id)]
    names = {"handler"}
    for hooks in [app.hooks, *(s.hooks for s in specs)]:
        for kind in (hooks.before, hooks.after, hooks.catch, hooks.cleanup):
            names.update(h.hook_id.rsplit(".", 1)[-1] for h in kind)
    return names


class GateDesk:
    """Gate operations over ``gates`` for ``app``; refused in production unless
    ``GATI_DEBUG_GATES=1`` says so."""

    def __init__(self, gates: GateTable | None, app: App | None, settings: Settings) -> None:
        self.gates = gates
        self.app = app
        self.allowed = gates_allowed(settings.environment, os.environ)

    def _live(self) -> GateTable:
        if self.gates is None or self.app is None:
            raise invalid("gates", "debug gates pause requests in the worker: they work "
                                   "where the playground runs with it (gati dev) or "
                                   "reaches the workers' Kafka (GATI_KAFKA_BOOTSTRAP)",
                          status=409, code="no_gates")
        return self.gates

    def state(self) -> dict[str, Any]:
        if self.gates is None:
            return {"available": False, "allowed": self.allowed, "gates": [], "paused": []}
        in_force = self.gates.in_force()
        return {"available": True, "allowed": self.allowed,
                "gates": [{**g.to_json(), "armed_on": sorted(
                    w for w, ids in in_force.items() if g.gate_id in ids)}
                          for g in self.gates.gates()],
                "workers": in_force,
                "paused": [p.to_json() for p in self.gates.paused()]}

    async def add(self, doc: Any) -> dict[str, Any]:
        gates = self._live()
        if not self.allowed:
            raise invalid("gates", f"refused in production; set {ENABLE_IN_PRODUCTION}=1 to "
                                   "allow debug gates", status=403, code="gates_refused")
        spec = gates.add(self._spec(gates, doc))
        await gates.flush()
        return spec.to_json()

    def _spec(self, gates: GateTable, doc: Any) -> GateSpec:
        assert self.app is not None
        if not isinstance(doc, dict):
            raise invalid("body", "a gate is a JSON object (point, target, handler_id or path)")
        unknown = sorted(set(doc) - {"point", "target", "handler_id", "path", "header",
                                     "debug_only", "timeout_s"})
        if unknown:
            raise invalid(unknown[0], "unknown gate field")
        handler, path = doc.get("handler_id") or None, doc.get("path") or None
        if handler is None and path is None:
            raise invalid("handler_id", "name a handler id or a path prefix")
        if handler is not None and handler not in self.app.families:
            raise invalid("handler_id", f"no handler {handler!r} (handlers: "
                                        f"{', '.join(sorted(self.app.families))})")
        if path is not None and (not isinstance(path, str) or not path.startswith("/")):
            raise invalid("path", "a path prefix starts with /")
        point = doc.get("point", "before")
        if point not in POINTS:
            raise invalid("point", f"{point!r} is not before or after")
        target = doc.get("target", "handler")
        names = hook_names(self.app, handler)
        if target not in names:
            raise invalid("target", f"{target!r} is not a hook of this handler or 'handler' "
                                    f"(known: {', '.join(sorted(names))})")
        return GateSpec(gates.new_id("gate"), point, target, handler_id=handler, path=path,
                        header=_header(doc.get("header")),
                        debug_only=doc.get("debug_only") is True,
                        timeout_s=_timeout(doc.get("timeout_s", DEFAULT_TIMEOUT_S)))

    async def remove(self, gate_id: str) -> dict[str, Any]:
        gates = self._live()
        if not gates.remove(gate_id):
            raise invalid("gate_id", f"no gate {gate_id!r}", status=404, code="not_found")
        await gates.flush()
        return {"removed": gate_id}

    async def decide(self, pause_id: str, doc: Any) -> dict[str, Any]:
        gates = self._live()
        doc = doc or {}
        if not isinstance(doc, dict):
            raise invalid("body", "a decision is a JSON object (action, set, delete)")
        action = doc.get("action", "resume")
        if action not in ACTIONS:
            raise invalid("action", f"{action!r} is not one of {', '.join(ACTIONS)}")
        edits, deletes = doc.get("set") or {}, doc.get("delete") or []
        if not isinstance(edits, dict):
            raise invalid("set", "the lctx keys to set, as a JSON object")
        if not isinstance(deletes, list) or not all(isinstance(k, str) for k in deletes):
            raise invalid("delete", "the lctx keys to delete, as a list of strings")
        if not gates.decide(pause_id, Decision(action, edits, tuple(deletes))):
            raise invalid("pause_id", f"no request paused as {pause_id!r} (resumed already, "
                                      "or timed out)", status=404, code="not_found")
        await gates.flush()
        return {"pause_id": pause_id, "action": action}


def _header(value: Any) -> tuple[str, str] | None:
    if value in (None, ""):
        return None
    name, sep, expected = str(value).partition(":")
    if not sep or not name.strip():
        raise invalid("header", f"{value!r} is not name:value")
    return name.strip().lower(), expected.strip()


def _timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not 0 < value <= MAX_TIMEOUT_S:
        raise invalid("timeout_s", f"seconds, over 0 and at most {MAX_TIMEOUT_S:g}")
    return float(value)
