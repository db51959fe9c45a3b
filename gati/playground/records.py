"""A request's whole record as one JSON document, and back: export and import.

The document is the record as the store's read model gives it (``Timeline``, redacted
as recorded), so an imported file replays offline exactly as the stored record would:
``RecordedRequest.of`` takes the rebuilt Timeline the way it takes a loaded one.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gati.cli.render import timeline_json
from gati.playground.filters import invalid
from gati.store.timeline import Timeline, TimelineStep

if TYPE_CHECKING:
    from gati.replay import ReplayResult

FORMAT = "gati.record"
FORMAT_VERSION = 1
MAX_IMPORT_BYTES = 8 * 1024 * 1024


def request_json(tl: Timeline) -> dict[str, Any]:
    """The timeline as JSON, with the envelope's headers and body as recorded, and where
    it ran: the Kafka message it came from and the worker(s) that took its steps."""
    out = timeline_json(tl)
    out["recorded_envelope"] = tl.recorded_envelope
    out["headers"] = [list(h) for h in tl.headers]
    out["body_b64"] = base64.b64encode(tl.body).decode()
    out["deadline_at"] = None if tl.deadline_at is None else tl.deadline_at.isoformat()
    out["log_topic"], out["log_partition"], out["log_offset"] = (
        tl.log_topic, tl.log_partition, tl.log_offset)
    for shown, step in zip(out["steps"], tl.steps, strict=True):
        shown["worker_id"] = step.worker_id
    out.update(_workers(tl.steps))
    return out


def _workers(steps: tuple[TimelineStep, ...]) -> dict[str, Any]:
    """``worker_id``: the worker that answered (a redelivered request has had several,
    all in ``worker_ids``, first come first)."""
    seen = list(dict.fromkeys(s.worker_id for s in steps if s.worker_id))
    answered = next((s.worker_id for s in reversed(steps)
                     if s.stage == "responded" and s.worker_id), None)
    return {"worker_id": answered or (seen[-1] if seen else None), "worker_ids": seen}


def export_document(tl: Timeline) -> dict[str, Any]:
    return {"format": FORMAT, "format_version": FORMAT_VERSION,
            "exported_at": datetime.now(UTC).isoformat(), "request": request_json(tl)}


def _time(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise invalid(field, f"{value!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _step(raw: Any, i: int) -> TimelineStep:
    field = f"request.steps[{i}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("seq"), int) \
            or not isinstance(raw.get("stage"), str):
        raise invalid(field, "each step needs an integer seq and a stage")
    at = _time(raw.get("at"), f"{field}.at") or datetime.fromtimestamp(0, tz=UTC)
    return TimelineStep(raw["seq"], raw["stage"], at, float(raw.get("ms_since_start") or 0),
                        raw.get("handler_id"), raw.get("status"), raw.get("error_code"),
                        raw.get("detail"), _text(raw.get("worker_id")))


def parse_document(data: bytes) -> Timeline:
    """The Timeline an exported file holds.

    Raises:
        RequestError: too large (413), not JSON, or not a Gati record (400, with the field).
    """
    if len(data) > MAX_IMPORT_BYTES:
        raise invalid("file", f"{len(data)} bytes is over the {MAX_IMPORT_BYTES} byte limit",
                      status=413, code="too_large")
    try:
        doc = json.loads(data)
    except ValueError:
        raise invalid("file", "not JSON: export a request from the playground or its API "
                              "(GET /api/requests/{id}/export)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise invalid("format", f"not a Gati record (expected format {FORMAT!r})")
    if doc.get("format_version") != FORMAT_VERSION:
        raise invalid("format_version", f"{doc.get('format_version')!r} is not a version "
                                        f"this Gati reads ({FORMAT_VERSION})")
    req = doc.get("request")
    if not isinstance(req, dict) or not isinstance(req.get("request_id"), str):
        raise invalid("request", "missing, or without a request_id")
    steps = req.get("steps")
    if not isinstance(steps, list):
        raise invalid("request.steps", "must be a list")
    try:
        body = base64.b64decode(req.get("body_b64") or "", validate=True)
    except (binascii.Error, ValueError):
        raise invalid("request.body_b64", "not base64") from None
    headers = req.get("headers") or []
    if not isinstance(headers, list) or not all(
            isinstance(h, list) and len(h) == 2 for h in headers):
        raise invalid("request.headers", "must be a list of [name, value] pairs")
    return _timeline(req, tuple(_step(s, i) for i, s in enumerate(steps)), body, headers)


def _timeline(req: dict[str, Any], steps: tuple[TimelineStep, ...], body: bytes,
              headers: list[Any]) -> Timeline:
    received_at = _time(req.get("received_at"), "request.received_at")
    return Timeline(
        request_id=req["request_id"], recorded_envelope=received_at is not None,
        method=req.get("method"), path=req.get("path"), query=req.get("query"),
        client=req.get("client"), gateway_id=req.get("gateway_id"),
        version_pref=req.get("version_pref"), received_at=received_at,
        completed_at=_time(req.get("completed_at"), "request.completed_at"),
        handler_id=req.get("handler_id"), version=req.get("version"),
        status=req.get("status"), error_code=req.get("error_code"),
        duration_ms=req.get("duration_ms"), steps=steps, body_schema=req.get("body_schema"),
        headers=tuple((str(k), str(v)) for k, v in headers), body=body,
        deadline_at=_time(req.get("deadline_at"), "request.deadline_at"),
        log_topic=_text(req.get("log_topic")),
        log_partition=_int(req.get("log_partition"), "request.log_partition"),
        log_offset=_int(req.get("log_offset"), "request.log_offset"),
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(field, f"{value!r} is not an integer")
    return value


async def replay_document(app_spec: str, data: bytes, *, version: str | None = None,
                          raw: bool = False, at: int | None = None) -> ReplayResult:
    """Replay an exported file with the app at ``app_spec``, touching no store: what
    ``gati replay --file`` runs on a machine that has only the file and the code.

    Raises:
        GatiError: the file is not a complete Gati record, or the replay cannot run.
    """
    from gati.cli.loader import load_app
    from gati.config import from_env
    from gati.replay import Replayer
    from gati.replay.record import RecordedRequest, ReplayError
    from gati.store.store import create_engine

    tl = parse_document(data)
    record = RecordedRequest.of(tl)
    if record is None:
        raise ReplayError(f"request {tl.request_id} in the file has no recorded answer")
    engine = create_engine("sqlite+aiosqlite://")  # never queried: the file is the record
    try:
        replayer = Replayer(app=load_app(app_spec), engine=engine, version=version, raw=raw,
                            settings=from_env())
        return await replayer.replay_record(record, at=at)
    finally:
        await engine.dispose()
