"""A request as the store recorded it, shaped for replay.

Replay runs no SQL: it reads the store's one read model (``Store.timelines``, the same
:class:`~gati.store.timeline.Timeline` that ``gati history`` shows) and keeps what a
replay needs: the envelope, the steps of the attempt that answered, and the response
the client got. Loading many at once (a time window) is two queries per chunk of ids,
which is what lets batch replay run thousands of requests a second.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gati.core.context import Snapshot, TaskState
from gati.core.envelopes import RequestEnvelope
from gati.errors import GatiError
from gati.policy import AuthOutcome
from gati.store.store import Store
from gati.store.timeline import Timeline, TimelineStep


class ReplayError(GatiError):
    """The request cannot be replayed (unknown id, incomplete record, bad option)."""

    code = "replay_error"


_NO_TIME = datetime.fromtimestamp(0, tz=UTC)

if TYPE_CHECKING:
    Step = TimelineStep
else:

    class Step(TimelineStep):
        """Transitional: ``Step(seq, stage, status, error_code, handler_id, detail)``, the
        argument order replay's own step type had, for ``gati/worker/journal.py`` until it
        builds its steps with :func:`gati.store.timeline.step_of`. An instance *is* a
        :class:`TimelineStep`, the record's one step type; type checkers see only that.
        """

        __slots__ = ()

        def __init__(self, seq: int, stage: str, status: int | None, error_code: str | None,
                     handler_id: str | None, detail: dict[str, Any]) -> None:
            super().__init__(seq, stage, _NO_TIME, 0.0, handler_id, status, error_code, detail)


@dataclass(frozen=True, slots=True)
class RecordedResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """What replay needs of a record: built from a :class:`Timeline` by :meth:`of`.

    ``steps`` are the answering attempt's (see :func:`answering_attempt`), each with a
    dict ``detail``. ``version`` served the request (``requests.version``).
    """

    request_id: str
    envelope: RequestEnvelope
    steps: tuple[TimelineStep, ...]
    response: RecordedResponse
    version: str | None
    handler_id: str | None = None
    received_at: datetime | None = field(default=None, compare=False)
    # When the broker appended the envelope, for a request refused as appended after its
    # gateway had answered 503 (the refusal replays as a refusal).
    appended_at_us: int | None = None

    @classmethod
    def of(cls, timeline: Timeline) -> RecordedRequest | None:
        """The replayable record in ``timeline``; None when its envelope or its answer is
        not recorded (yet)."""
        if not timeline.recorded_envelope or timeline.method is None:
            return None
        steps = [_with_fields(s) for s in answering_attempt(timeline.steps)]
        responded = next((s for s in reversed(steps) if s.stage == "responded"), None)
        if responded is None or responded.status is None:
            return None
        refused = next((s.detail for s in steps if s.stage == "refused"), None)
        body = base64.b64decode(responded.detail.get("body_b64", ""))
        headers = tuple((str(k), str(v)) for k, v in responded.detail.get("headers", []))
        authenticated = next((s.detail for s in steps if s.stage == "authenticated"), None)
        envelope = _envelope(timeline, refused)
        if authenticated is not None:  # the principal the gateway established (issue 18)
            envelope = replace(envelope, auth=AuthOutcome.from_detail(authenticated))
        return cls(
            request_id=timeline.request_id,
            envelope=envelope,
            steps=tuple(steps),
            response=RecordedResponse(responded.status, headers, body),
            version=timeline.version,
            handler_id=timeline.handler_id,
            received_at=timeline.received_at,
            appended_at_us=None if refused is None else refused.get("appended_at_us"),
        )

    @property
    def effects(self) -> list[TimelineStep]:
        return [s for s in self.steps if s.stage == "effect"]

    def step(self, stage: str) -> TimelineStep | None:
        """The first step of ``stage`` in the answering attempt, if any."""
        return next((s for s in self.steps if s.stage == stage), None)

    @property
    def routed(self) -> dict[str, Any]:
        """The ``routed`` step's detail (version asked for, plan, unhealthy), or {}."""
        step = self.step("routed")
        return {} if step is None else dict(step.detail)

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


async def load(store: Store, request_ids: Sequence[str]) -> dict[str, RecordedRequest]:
    """Records of ``request_ids`` (missing or unfinished ones are left out)."""
    out: dict[str, RecordedRequest] = {}
    for rid, timeline in (await store.timelines(request_ids)).items():
        record = RecordedRequest.of(timeline)
        if record is not None:
            out[rid] = record
    return out


async def load_one(store: Store, request_id: str) -> RecordedRequest:
    """The record of ``request_id``.

    Raises:
        ReplayError: nothing is recorded for it, or not yet its envelope and answer.
    """
    timeline = await store.timeline(request_id)
    if timeline is None:
        raise ReplayError(f"no recorded request {request_id!r}")
    record = RecordedRequest.of(timeline)
    if record is None:
        raise ReplayError(
            f"request {request_id} has no complete record yet (no answer recorded; "
            "is the recorder running?)"
        )
    return record


def answering_attempt(steps: Sequence[TimelineStep]) -> list[TimelineStep]:
    """The steps of the attempt that answered: after the last ``resumed`` step, if a
    worker died mid-request, and without notes of later redeliveries."""
    start = max((s.seq for s in steps if s.stage == "resumed"), default=-1)
    return [s for s in steps if s.seq > start and s.stage != "redelivered"]


def _with_fields(step: TimelineStep) -> TimelineStep:
    """``step`` with a dict detail, as replay reads details: {} for none, the text kept
    under ``unparsable`` when it was not JSON, any other JSON value under ``value``."""
    d = step.detail
    if isinstance(d, dict):
        return step
    fields = {} if d is None else {"unparsable": d[:200]} if isinstance(d, str) else {"value": d}
    # Built directly, not with dataclasses.replace: this runs for most steps of a batch.
    return TimelineStep(step.seq, step.stage, step.at, step.ms_since_start, step.handler_id,
                        step.status, step.error_code, fields)


def _us(moment: datetime | None) -> int:
    return 0 if moment is None else int(moment.timestamp() * 1_000_000)


def _envelope(timeline: Timeline, refused: dict[str, Any] | None) -> RequestEnvelope:
    assert timeline.method is not None
    return RequestEnvelope(
        request_id=timeline.request_id,
        gateway_id=timeline.gateway_id or "replay",
        reply_topic="",
        reply_partition=0,
        received_at_us=_us(timeline.received_at),
        deadline_at_us=_us(timeline.deadline_at),
        method=timeline.method,
        path=timeline.path or "",
        query=timeline.query or "",
        headers=timeline.headers,
        body=timeline.body,
        client=timeline.client,
        version_pref=timeline.version_pref,
        accept_by_us=None if refused is None else refused.get("accept_by_us"),
    )
