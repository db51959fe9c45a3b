"""The read model of the record: a request and its steps, as every reader sees them.

``gati history``, replay and any future API load requests through :func:`read_timelines`
(``Store.timelines`` / ``Store.timeline``) and read :class:`Timeline` and
:class:`TimelineStep`; none of them runs its own SQL. Many requests are read in two
queries per chunk of ids (their rows, then all their steps), which is what lets batch
replay run thousands of requests a second.

The version that served a request is the ``requests.version`` column, written when the
request was recorded (``Store.record``); no reader parses it back out of a step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gati.core.envelopes import LifecycleEvent, Stage
from gati.store.tables import lifecycle_events, requests

IN_CHUNK = 500  # ids per IN (...) list: well under every driver's parameter limit


@dataclass(frozen=True, slots=True)
class TimelineStep:
    """One lifecycle step; ``detail`` is its parsed JSON (the raw text if not JSON).

    ``ms_since_start`` counts from the request's first recorded step.
    """

    seq: int
    stage: str
    at: datetime
    ms_since_start: float
    handler_id: str | None
    status: int | None
    error_code: str | None
    detail: Any
    worker_id: str | None = None  # the worker that took the step (None: gateway, recorder)


@dataclass(frozen=True, slots=True)
class Timeline:
    """A request as recorded: its envelope and outcome, and its steps in order.

    Fields come from the ``requests`` row when it is recorded and from the lifecycle
    steps otherwise (the two arrive on different topics). ``version`` is the version
    that served it, as recorded in ``requests.version``; ``duration_ms`` runs from the
    gateway receiving the request to the answer, or spans the recorded steps when
    either end is missing. ``headers``, ``body`` and ``deadline_at`` are the envelope's
    (masked as recorded), empty when it was not recorded.
    """

    request_id: str
    recorded_envelope: bool
    method: str | None
    path: str | None
    query: str | None
    client: str | None
    gateway_id: str | None
    version_pref: str | None
    received_at: datetime | None
    completed_at: datetime | None
    handler_id: str | None
    version: str | None
    status: int | None
    error_code: str | None
    duration_ms: float | None
    steps: tuple[TimelineStep, ...]
    body_schema: int | None = None  # the schema a typed body travelled in on Kafka
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    deadline_at: datetime | None = None
    # The Kafka message the envelope was recorded from (requests.log_*), when known.
    log_topic: str | None = None
    log_partition: int | None = None
    log_offset: int | None = None
    trace_id: str | None = None  # the W3C trace of the request's spans (requests.trace_id)

    @property
    def answered(self) -> bool:
        return self.status is not None


async def read_timelines(
    conn: AsyncConnection, request_ids: Sequence[str]
) -> dict[str, Timeline]:
    """The timelines of ``request_ids`` that have anything recorded, by id.

    Reads the tables directly (not the views), so it works at any schema revision.
    """
    out: dict[str, Timeline] = {}
    for start in range(0, len(request_ids), IN_CHUNK):
        chunk = list(request_ids[start : start + IN_CHUNK])
        rows = {
            r["request_id"]: r
            for r in (
                await conn.execute(sa.select(requests).where(requests.c.request_id.in_(chunk)))
            ).mappings()
        }
        events: dict[str, list[Mapping[Any, Any]]] = {}
        for e in (
            await conn.execute(
                sa.select(lifecycle_events)
                .where(lifecycle_events.c.request_id.in_(chunk))
                .order_by(lifecycle_events.c.request_id, lifecycle_events.c.seq)
            )
        ).mappings():
            events.setdefault(e["request_id"], []).append(e)
        for rid in chunk:
            row, steps = rows.get(rid), events.get(rid, [])
            if row is not None or steps:
                out[rid] = build_timeline(rid, row, steps)
    return out


def answered_window(
    *, since: datetime, until: datetime | None, handler: str | None, limit: int | None
) -> sa.Select[Any]:
    """Ids of answered requests with a recorded envelope received in [since, until)."""
    q = (
        sa.select(requests.c.request_id)
        .where(
            requests.c.received_at >= since,
            requests.c.status.is_not(None),
            requests.c.method.is_not(None),
        )
        .order_by(requests.c.received_at)
    )
    if until is not None:
        q = q.where(requests.c.received_at < until)
    if handler is not None:
        q = q.where(requests.c.handler_id == handler)
    if limit is not None:
        q = q.limit(limit)
    return q


def step_of(event: LifecycleEvent, start: datetime | None = None) -> TimelineStep:
    """A step from a live lifecycle event (a worker's journal reads its own this way)."""
    at = datetime.fromtimestamp(event.at_us / 1e6, tz=UTC)
    return TimelineStep(event.seq, event.stage, at, _ms(at, start) if start else 0.0,
                        event.handler_id, event.status, event.error_code,
                        parse_detail(event.detail), event.worker_id)


def parse_detail(text: str | None) -> Any:
    """A step's detail: its JSON value, the text itself when it is not JSON, or None."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _ms(later: datetime, earlier: datetime) -> float:
    return round((later - earlier).total_seconds() * 1000, 3)


def build_timeline(
    request_id: str, row: Mapping[Any, Any] | None, events: Sequence[Mapping[Any, Any]]
) -> Timeline:
    """Assemble a Timeline from a ``requests`` row (or None) and ``lifecycle_events`` rows."""
    steps = _steps(events)
    first: dict[str, TimelineStep] = {}
    for step in steps:
        first.setdefault(step.stage, step)
    received = first.get(Stage.RECEIVED.value)
    routed = first.get(Stage.ROUTED.value)
    responded = first.get(Stage.RESPONDED.value)
    got: Mapping[Any, Any] = row or {}
    received_at = got.get("received_at")
    completed_at = got.get("completed_at") or (responded.at if responded else None)
    handler_id = got.get("handler_id") or (routed.handler_id if routed else None)
    if handler_id is None and responded is not None:
        handler_id = responded.handler_id
    status = got.get("status")
    return Timeline(
        request_id=request_id,
        recorded_envelope=received_at is not None,
        method=got.get("method") or _said(received, "method"),
        path=got.get("path") or _said(received, "path"),
        query=got.get("query"),
        client=got.get("client"),
        gateway_id=got.get("gateway_id") or _said(received, "gateway"),
        version_pref=got.get("version_pref"),
        body_schema=got.get("body_schema"),
        received_at=received_at,
        completed_at=completed_at,
        handler_id=handler_id,
        version=got.get("version"),
        status=status if status is not None else (responded.status if responded else None),
        error_code=got.get("error_code") or (responded.error_code if responded else None),
        duration_ms=_duration(received_at, completed_at, steps),
        steps=steps,
        headers=_headers(got.get("headers")),
        body=got.get("body") or b"",
        deadline_at=got.get("deadline_at"),
        log_topic=got.get("log_topic"),
        log_partition=got.get("log_partition"),
        log_offset=got.get("log_offset"),
        trace_id=got.get("trace_id"),
    )


def _steps(events: Sequence[Mapping[Any, Any]]) -> tuple[TimelineStep, ...]:
    if not events:
        return ()
    start = events[0]["at"]  # the first step, in seq order
    return tuple(
        TimelineStep(e["seq"], e["stage"], e["at"], _ms(e["at"], start), e["handler_id"],
                     e["status"], e["error_code"], parse_detail(e["detail"]),
                     e.get("worker_id"))
        for e in events
    )


def _said(step: TimelineStep | None, key: str) -> Any:
    """What a step's detail says under ``key``: the fallback when a row is missing."""
    return step.detail.get(key) if step and isinstance(step.detail, dict) else None


def _duration(received_at: datetime | None, completed_at: datetime | None,
              steps: tuple[TimelineStep, ...]) -> float | None:
    if received_at is not None and completed_at is not None:
        return _ms(completed_at, received_at)
    if steps:
        return _ms(steps[-1].at, steps[0].at)
    return None


def _headers(text: str | None) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in json.loads(text or "[]"))
