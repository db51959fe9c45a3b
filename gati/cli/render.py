"""Terminal and JSON renderings of what the store holds, for ``gati history``.

Pure functions from store values to text: no I/O, no SQL. Colours are click styles;
``click.echo`` drops them when the output is not a terminal.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import click

from gati.core.envelopes import Stage
from gati.core.record import (
    ClockRead,
    Effect,
    LogLine,
    ModuleCall,
    RandomDraw,
    SecretLookup,
    Sleep,
    UnknownEffect,
    UuidDraw,
    effect_from_detail,
)
from gati.store.store import PruneResult, Timeline, TimelineStep

STAGE_WIDTH = 14
VALUE_WIDTH = 60
SUMMARY_WIDTH = 160
_OPENS = {Stage.HANDLER_START, Stage.HOOK_START}
_CLOSES = {Stage.HANDLER_END, Stage.HOOK_END, Stage.HOOK_ERROR}
_HOOKS = {Stage.HOOK_START, Stage.HOOK_END, Stage.HOOK_ERROR}
_FAILED = {Stage.FAILED, Stage.HOOK_ERROR, Stage.TIMEOUT}


def compact(value: Any, width: int = VALUE_WIDTH) -> str:
    """One-line JSON for a recorded value, shortened with an ellipsis past ``width``."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def _ms(value: Any) -> str:
    return f"{value:g} ms" if isinstance(value, int | float) else "? ms"


def _time(at: datetime | None) -> str:
    if at is None:
        return "-"
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def _outcome(status: int | None, error_code: str | None) -> str:
    if status is None:
        return error_code or ""
    return f"{status} {error_code}" if error_code else str(status)


def _error(error: Any) -> str:
    if isinstance(error, dict):
        kind, message = error.get("type"), error.get("message")
        text = f"{kind}: {message}" if kind and message is not None else str(kind or message)
        return text + (f" ({error['at']})" if error.get("at") else "")
    return str(error)


def _call(call: ModuleCall) -> str:
    args = [compact(a, 40) for a in call.args]
    args += [f"{k}={compact(v, 40)}" for k, v in call.kwargs.items()]
    text = f"{call.module}.{call.method}({', '.join(args)})"
    if call.error is not None:
        text += " ✗ " + _error(call.error.to_detail())
    else:
        text += " → " + compact(call.result)
    if call.duration_ms is not None:
        text += f" · {_ms(call.duration_ms)}"
    if call.attempts > 1:
        text += f" · {call.attempts} attempts"
    return text


def effect_summary(effect: Effect) -> str:
    """One effect in one line: each kind's rendering, in one table."""
    match effect:
        case ModuleCall():
            return _call(effect)
        case SecretLookup():
            return f"secret {effect.name} ({'found' if effect.found else 'not set'})"
        case Sleep():
            return f"slept {effect.seconds:g} s"
        case ClockRead() | RandomDraw() | UuidDraw():
            return f"{effect.kind} → {compact(effect.value)}"
        case UnknownEffect():
            return f"{effect.detail.get('kind', '?')} → {compact(effect.detail.get('value'))}"
    return f"{effect.kind} → {compact(effect.to_detail())}"


def _log(line: LogLine) -> str:
    text = f"[{line.level}] {line.message}"
    return text + "".join(f" {k}={compact(v, 40)}" for k, v in line.fields.items())


def _body(d: dict[str, Any]) -> str:
    """A recorded response body, shortened: its text when it is UTF-8, else its size."""
    if isinstance(d.get("body_b64"), str):
        try:
            raw = base64.b64decode(d["body_b64"], validate=True)
        except ValueError:
            return ""
    elif isinstance(d.get("body"), str):
        raw = d["body"].encode()
    else:
        return ""
    if not raw:
        return "empty body"
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return f"{len(raw)} bytes"
    text = " ".join(text.split())
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…"


def _hook(d: dict[str, Any], stage: str) -> str:
    name = d.get("hook", "?")
    attempt = d.get("attempt")
    if stage == Stage.HOOK_START:
        where = " ".join(str(d[k]) for k in ("level", "kind") if d.get(k))
        more = f", attempt {attempt}" if isinstance(attempt, int) and attempt > 1 else ""
        return f"{name} ({where}{more})" if where or more else str(name)
    if stage == Stage.HOOK_END:
        return f"{name} {_ms(d.get('duration_ms'))}"
    text = f"{name} attempt {attempt} ✗ {_error(d.get('error'))}"
    return text + (" → retrying" if d.get("retry") else "")


def summary(step: TimelineStep) -> str:
    """What one step says, in one line."""
    d = step.detail if isinstance(step.detail, dict) else {}
    outcome = _outcome(step.status, step.error_code)
    stage = step.stage
    if stage == Stage.RECEIVED:
        text = f"{d.get('method', '')} {d.get('path', '')}".strip()
        return text + (f" via {d['gateway']}" if d.get("gateway") else "")
    if stage == Stage.ROUTED:
        text = f"{step.handler_id or ''} {d.get('pattern', '')}".strip()
        if d.get("version") is not None:
            text += f" version {d['version']}"
        params = d.get("params")
        if isinstance(params, dict) and params:
            text += " " + " ".join(f"{k}={v}" for k, v in params.items())
        return text
    if stage in _HOOKS:
        return _hook(d, stage)
    if stage == Stage.EFFECT:
        return effect_summary(effect_from_detail(d))
    if stage == Stage.LOG:
        return _log(LogLine.from_detail(d))
    if stage == Stage.SNAPSHOT:
        state = d.get("state")
        keys = ", ".join(sorted(state)) if isinstance(state, dict) and state else "(empty)"
        text = f"{d.get('label', 'snapshot')}: state keys {keys}"
        return text + (f" · hook_index {d['hook_index']}" if "hook_index" in d else "")
    if stage == Stage.FAILED:
        why = _error(d) if "type" in d else str(d.get("message", ""))
        return f"{outcome} {why}".strip()
    if stage == Stage.COMPENSATION:
        if d.get("ok", True):
            return f"{d.get('name', '?')} ok"
        return f"{d.get('name', '?')} ✗ {_error(d.get('error'))}"
    if stage == Stage.TIMEOUT:
        return f"{outcome} after {d.get('timeout_s', '?')} s".strip()
    if stage == Stage.PUBLISH:
        return f"{d.get('scope', '')} {d.get('topic', '')}".strip()
    if stage == Stage.RESPONDED:
        body = _body(d)
        return f"{outcome} · {body}" if body else outcome
    if d:
        return f"{outcome} {compact(d, SUMMARY_WIDTH)}".strip()
    if step.detail is not None:
        return f"{outcome} {compact(step.detail)}".strip()
    return outcome


def _header(tl: Timeline) -> list[str]:
    target = f"{tl.method or '?'} {tl.path or '?'}"
    if tl.query:
        target += f"?{tl.query}"
    if tl.answered:
        outcome = _outcome(tl.status, tl.error_code)
        colour = "green" if tl.status is not None and tl.status < 400 else "red"
        answer = click.style(outcome, fg=colour, bold=True)
    else:
        answer = click.style("no answer recorded", fg="yellow", bold=True)
    first = [click.style(target, bold=True) + " → " + answer]
    if tl.handler_id:
        first.append(tl.handler_id + (f" version {tl.version}" if tl.version else ""))
    if tl.duration_ms is not None:
        first.append(_ms(tl.duration_ms))
    if tl.gateway_id:
        first.append(f"gateway {tl.gateway_id}")
    second = [f"request {tl.request_id}", f"received {_time(tl.received_at)}"]
    if tl.client:
        second.append(f"client {tl.client}")
    if tl.version_pref:
        second.append(f"asked for version {tl.version_pref}")
    if tl.body_schema is not None:
        second.append(f"body as Avro, schema {tl.body_schema}")
    if tl.trace_id:
        second.append(f"trace {tl.trace_id}")
    lines = ["  ".join(first), click.style("  ".join(second), dim=True)]
    if not tl.recorded_envelope:
        lines.append(click.style("(the request's envelope is not recorded yet)", fg="yellow"))
    return lines


def _style_line(step: TimelineStep, text: str) -> str:
    failed = step.stage in _FAILED or (
        step.stage == Stage.EFFECT and step.error_code is not None
    )
    if failed:
        return click.style(text, fg="red")
    if step.stage in (Stage.LOG, Stage.SNAPSHOT):
        return click.style(text, fg="cyan")
    return text


def timeline_text(tl: Timeline) -> str:
    """The request's header, then one line per step: offset, stage, summary.

    Steps inside a hook or the handler are indented under it.
    """
    lines = _header(tl)
    if not tl.steps:
        lines.append("(no lifecycle steps recorded)")
        return "\n".join(lines)
    lines.append("")
    offsets = [f"+{s.ms_since_start:.3f} ms" for s in tl.steps]
    width = max(len(o) for o in offsets)
    depth = 0
    for step, offset in zip(tl.steps, offsets, strict=True):
        if step.stage in _CLOSES:
            depth = max(0, depth - 1)
        text = summary(step)
        if len(text) > SUMMARY_WIDTH:
            text = text[: SUMMARY_WIDTH - 1] + "…"
        stage = ("  " * depth + step.stage).ljust(STAGE_WIDTH + 2 * depth)
        line = f"{click.style(offset.rjust(width), dim=True)}  {stage} {text}".rstrip()
        lines.append(_style_line(step, line))
        if step.stage in _OPENS:
            depth += 1
    return "\n".join(lines)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat()


def timeline_json(tl: Timeline) -> dict[str, Any]:
    """The timeline as JSON-ready data (times in ISO 8601, UTC)."""
    return {
        "request_id": tl.request_id,
        "method": tl.method,
        "path": tl.path,
        "query": tl.query,
        "client": tl.client,
        "gateway_id": tl.gateway_id,
        "version_pref": tl.version_pref,
        "body_schema": tl.body_schema,
        "trace_id": tl.trace_id,
        "handler_id": tl.handler_id,
        "version": tl.version,
        "status": tl.status,
        "error_code": tl.error_code,
        "answered": tl.answered,
        "received_at": _iso(tl.received_at),
        "completed_at": _iso(tl.completed_at),
        "duration_ms": tl.duration_ms,
        "steps": [
            {
                "seq": s.seq,
                "stage": s.stage,
                "at": _iso(s.at),
                "ms_since_start": s.ms_since_start,
                "handler_id": s.handler_id,
                "status": s.status,
                "error_code": s.error_code,
                "detail": s.detail,
                "summary": summary(s),
            }
            for s in tl.steps
        ],
    }


def prune_text(result: PruneResult) -> str:
    verb = "would delete" if result.dry_run else "deleted"
    text = (
        f"{verb} {result.requests} requests and {result.lifecycle_events} lifecycle events "
        f"older than {_time(result.before)}"
    )
    if not result.dry_run and result.batches > 1:
        text += f" in {result.batches} batches"
    return text
