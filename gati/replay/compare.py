"""Comparing a replay with its record: the trace step by step, the response by value."""

from __future__ import annotations

import json
from typing import Any

from gati.core.envelopes import LifecycleEvent, Stage
from gati.core.pipeline import Outcome
from gati.core.record import effect_from_detail
from gati.core.scope import to_jsonable
from gati.replay.ledger import Divergence
from gati.replay.record import RecordedRequest, Step

# Stages whose presence depends on configuration or timing, not on the handler's logic.
# Redelivery notes say how the log delivered a request, not what the handler did.
# A ``calling`` step is the journal's mark before a live call; replay makes none.
_IGNORED = {Stage.SNAPSHOT, Stage.LOG, Stage.REDELIVERED, Stage.CALLING}
_HOOKS = {Stage.HOOK_START, Stage.HOOK_END, Stage.HOOK_ERROR}
_OUTCOMES = {Stage.FAILED, Stage.HANDLER_END, Stage.RESPONDED, Stage.TIMEOUT, Stage.REJECTED}


def signature(
    stage: str, status: int | None, error_code: str | None, detail: dict[str, Any]
) -> str:
    """What must be equal for two steps to be the same step."""
    if stage in _HOOKS:
        return f"{stage} {str(detail.get('hook', '?')).rsplit('.', 1)[-1]} ({detail.get('kind')})"
    if stage == Stage.EFFECT:
        return f"effect {effect_from_detail(detail).describe()}"
    if stage == Stage.TRANSFORM:
        return f"transform {detail.get('direction')} {detail.get('from')}->{detail.get('to')}"
    if stage in _OUTCOMES:
        return f"{stage} {status or ''} {error_code or ''}".rstrip()
    if stage == Stage.ROUTED:
        return f"routed {detail.get('version')}"
    return stage


def recorded_trace(record: RecordedRequest, after_seq: int = -1) -> list[str]:
    return [
        signature(s.stage, s.status, s.error_code, s.detail)
        for s in record.steps
        if s.seq > after_seq and s.stage not in _IGNORED
    ]


def replayed_trace(events: tuple[LifecycleEvent, ...], raw: tuple[Any, ...] = ()) -> list[str]:
    out = []
    for i, e in enumerate(events):
        if e.stage in _IGNORED:
            continue
        if raw:
            detail = to_jsonable(raw[i]) if raw[i] is not None else {}
        else:
            detail = json.loads(e.detail) if e.detail else {}
        out.append(signature(e.stage, e.status, e.error_code, detail))
    return out


def first_trace_difference(recorded: list[str], replayed: list[str]) -> Divergence | None:
    for i, (a, b) in enumerate(zip(recorded, replayed, strict=False)):
        if a != b:
            return Divergence(i, "trace", f"step {i}: recorded {a!r}, replay {b!r}", a, b)
    if len(recorded) != len(replayed):
        i = min(len(recorded), len(replayed))
        longer, which = (recorded, "the record") if len(recorded) > i else (replayed, "replay")
        return Divergence(
            i,
            "trace",
            f"step {i}: only {which} has {longer[i]!r}",
            recorded[i] if i < len(recorded) else None,
            replayed[i] if i < len(replayed) else None,
        )
    return None


def response_difference(record: RecordedRequest, outcome: Outcome) -> Divergence | None:
    got = outcome.response
    want = record.response
    if got.status != want.status:
        return Divergence(
            None,
            "response",
            f"response status differs: recorded {want.status}, replay {got.status}",
            want.status,
            got.status,
        )
    if got.body == want.body:
        return None
    try:
        a, b = json.loads(want.body), json.loads(got.body)
    except ValueError:
        return Divergence(
            None, "response", "response body differs (not JSON)", want.body[:200], got.body[:200]
        )
    path = _first_json_difference(a, b, "$")
    if path is None:
        return None  # same JSON value, different bytes (key order or spacing)
    return Divergence(
        None,
        "response",
        f"response body differs at {path[0]}: recorded {_short(path[1])}, replay {_short(path[2])}",
        path[1],
        path[2],
    )


def _first_json_difference(a: Any, b: Any, path: str) -> tuple[str, Any, Any] | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return (f"{path}.{key}", a.get(key, "<absent>"), b.get(key, "<absent>"))
            found = _first_json_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            found = _first_json_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        if len(a) != len(b):
            return (f"{path}.length", len(a), len(b))
        return None
    return None if a == b else (path, a, b)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def unused_effects(steps: list[Step]) -> Divergence | None:
    if not steps:
        return None
    first = steps[0]
    described = effect_from_detail(first.detail).describe()
    return Divergence(
        first.seq,
        "effect",
        f"effect at step {first.seq}: recorded {described}, replay never made it "
        f"({len(steps)} recorded effect(s) unused)",
        described,
        None,
    )
