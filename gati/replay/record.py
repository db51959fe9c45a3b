"""A request as the store recorded it, loaded for replay.

Loading many at once (a time window) reads requests and their steps in two queries per
chunk, which is what lets batch replay run thousands of requests a second.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gati.core.context import Snapshot, TaskState
from gati.core.envelopes import RequestEnvelope
from gati.errors import GatiError
from gati.store.tables import lifecycle_events, requests


class ReplayError(GatiError):
    """The request cannot be replayed (unknown id, incomplete record, bad option)."""

    code = "replay_error"


@dataclass(frozen=True, slots=True)
class Step:
    seq: int
    stage: str
    status: int | None
    error_code: str | None
    handler_id: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RecordedResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    request_id: str
    envelope: RequestEnvelope
    steps: tuple[Step, ...]
    response: RecordedResponse
    version: str | None
    handler_id: str | None = None
    received_at: datetime | None = field(default=None, compare=False)
    # When the broker appended the envelope, for a request refused as appended after its
    # gateway had answered 503 (the refusal replays as a refusal).
    appended_at_us: int | None = None

    @property
    def effects(self) -> list[Step]:
        return [s for s in self.steps if s.stage == "effect"]

    def snapshot_at(self, seq: int) -> Snapshot:
        for s in self.steps:
            if s.seq == seq and s.stage == "snapshot":
                d = s.detail
                return Snapshot(
                    state=dict(d.get("state") or {}),
                    tasks=tuple(TaskState(t["name"], t["status"]) for t in d.get("tasks", [])),
                    hook_index=int(d.get("hook_index", 0)),
                    handler_version=d.get("handler_version"),
                    label=str(d.get("label")),
                )
        found = [str(s.seq) for s in self.steps if s.stage == "snapshot"]
        raise ReplayError(
            f"step {seq} of {self.request_id} is not a snapshot; snapshots are "
            f"at steps: {', '.join(found) or 'none (see GATI_SNAPSHOTS)'}"
        )


async def load(engine: AsyncEngine, request_ids: Sequence[str]) -> dict[str, RecordedRequest]:
    """Records of ``request_ids`` (missing or unfinished ones are left out)."""
    out: dict[str, RecordedRequest] = {}
    for start in range(0, len(request_ids), 500):
        chunk = list(request_ids[start : start + 500])
        async with engine.connect() as conn:
            rows = {
                r["request_id"]: r
                for r in (
                    await conn.execute(sa.select(requests).where(requests.c.request_id.in_(chunk)))
                ).mappings()
            }
            events = (
                await conn.execute(
                    sa.select(lifecycle_events)
                    .where(lifecycle_events.c.request_id.in_(chunk))
                    .order_by(lifecycle_events.c.request_id, lifecycle_events.c.seq)
                )
            ).mappings()
            steps: dict[str, list[Step]] = {}
            for e in events:
                steps.setdefault(e["request_id"], []).append(
                    Step(
                        e["seq"],
                        e["stage"],
                        e["status"],
                        e["error_code"],
                        e["handler_id"],
                        _json(e["detail"]),
                    )
                )
        for rid, row in rows.items():
            rec = _build(row, steps.get(rid, []))
            if rec is not None:
                out[rid] = rec
    return out


async def load_one(engine: AsyncEngine, request_id: str) -> RecordedRequest:
    found = await load(engine, [request_id])
    if request_id in found:
        return found[request_id]
    async with engine.connect() as conn:
        exists = (
            await conn.execute(
                sa.select(requests.c.request_id, requests.c.status).where(
                    requests.c.request_id == request_id
                )
            )
        ).first()
    if exists is None:
        raise ReplayError(f"no recorded request {request_id!r}")
    raise ReplayError(
        f"request {request_id} has no complete record yet (no answer recorded; "
        "is the recorder running?)"
    )


async def window(
    engine: AsyncEngine,
    *,
    since: datetime,
    until: datetime | None,
    handler: str | None,
    limit: int | None = None,
) -> list[str]:
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
    async with engine.connect() as conn:
        return [r[0] for r in await conn.execute(q)]


def _json(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"unparsable": text[:200]}
    return value if isinstance(value, dict) else {"value": value}


def _us(moment: datetime | None) -> int:
    return 0 if moment is None else int(moment.timestamp() * 1_000_000)


def answering_attempt(steps: Sequence[Step]) -> list[Step]:
    """The steps of the attempt that answered: after the last ``resumed`` step, if a
    worker died mid-request, and without notes of later redeliveries."""
    start = max((s.seq for s in steps if s.stage == "resumed"), default=-1)
    return [s for s in steps if s.seq > start and s.stage != "redelivered"]


def _build(row: Any, all_steps: list[Step]) -> RecordedRequest | None:
    steps = answering_attempt(all_steps)
    responded = next((s for s in reversed(steps) if s.stage == "responded"), None)
    if responded is None or row["method"] is None or responded.status is None:
        return None
    headers = tuple((str(k), str(v)) for k, v in json.loads(row["headers"] or "[]"))
    env = RequestEnvelope(
        request_id=row["request_id"],
        gateway_id=row["gateway_id"] or "replay",
        reply_topic="",
        reply_partition=0,
        received_at_us=_us(row["received_at"]),
        deadline_at_us=_us(row["deadline_at"]),
        method=row["method"],
        path=row["path"],
        query=row["query"] or "",
        headers=headers,
        body=row["body"] or b"",
        client=row["client"],
        version_pref=row["version_pref"],
    )
    refused = next((s.detail for s in steps if s.stage == "refused"), None)
    if refused is not None:
        env = replace(env, accept_by_us=refused.get("accept_by_us"))
    body = base64.b64decode(responded.detail.get("body_b64", ""))
    resp_headers = tuple((str(k), str(v)) for k, v in responded.detail.get("headers", []))
    return RecordedRequest(
        request_id=row["request_id"],
        envelope=env,
        steps=tuple(steps),
        response=RecordedResponse(responded.status, resp_headers, body),
        version=row["version"],
        handler_id=row["handler_id"],
        received_at=row["received_at"],
        appended_at_us=None if refused is None else refused.get("appended_at_us"),
    )
