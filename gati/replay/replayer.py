"""``Replayer``: re-execute recorded requests in-process and compare with the record.

The app's current code runs the recorded request, pinned to the version that served it
(or to ``version=``). Effects come from the record (``ReplayEffects``), so no module is
called and no email is sent twice; secrets are placeholders, since what was recorded
was already redacted. The result says whether the replay is identical and, if not,
where it first left the record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gati.config import Settings
from gati.core.app import App
from gati.core.context import ModuleEntry, Snapshot
from gati.core.effects import LiveEffects
from gati.core.envelopes import Rejection, RequestEnvelope
from gati.core.pipeline import Delivery, Pipeline
from gati.core.ports import SystemClock
from gati.core.scope import RequestScope
from gati.core.timescape import HealthTracker
from gati.errors import GatiError
from gati.replay.compare import (
    first_trace_difference,
    recorded_trace,
    replayed_trace,
    response_difference,
    unused_effects,
)
from gati.replay.ledger import Divergence, ReplayEffects
from gati.replay.record import RecordedRequest, ReplayError, load, load_one, window
from gati.wiring import app_config, services


@dataclass(frozen=True, slots=True)
class ReplayResult:
    request_id: str
    identical: bool
    divergence: Divergence | None
    recorded_status: int
    replayed_status: int | None
    recorded_version: str | None
    replayed_version: str | None
    recorded_trace: tuple[str, ...]
    replayed_trace: tuple[str, ...]
    recorded_body: bytes
    replayed_body: bytes
    duration_ms: float
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = self.divergence
        return {
            "request_id": self.request_id,
            "identical": self.identical,
            "divergence": None
            if d is None
            else {
                "step": d.step,
                "kind": d.kind,
                "message": d.message,
                "recorded": _plain(d.recorded),
                "replayed": _plain(d.replayed),
            },
            "recorded": {
                "status": self.recorded_status,
                "version": self.recorded_version,
                "body": _body(self.recorded_body),
                "trace": list(self.recorded_trace),
            },
            "replayed": {
                "status": self.replayed_status,
                "version": self.replayed_version,
                "body": _body(self.replayed_body),
                "trace": list(self.replayed_trace),
            },
            "duration_ms": round(self.duration_ms, 3),
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class BatchResult:
    total: int
    identical: tuple[str, ...]
    diverged: tuple[ReplayResult, ...]
    failed: tuple[ReplayResult, ...]
    duration_s: float

    @property
    def ok(self) -> bool:
        return not self.diverged and not self.failed

    @property
    def rate_per_s(self) -> float:
        return self.total / self.duration_s if self.duration_s > 0 else 0.0


class _Placeholder:
    """Stands in for a module in a non-live replay: its methods are never invoked."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Callable[..., Any]:
        def never(*args: Any, **kwargs: Any) -> Any:
            raise ReplayError(f"replay tried to call {self._name}.{attr} for real")

        return never


class _Pinned:
    """Operator state as it was: the versions that were inactive."""

    def __init__(self, inactive: set[str]) -> None:
        self._inactive = inactive

    def inactive(self, handler_id: str) -> set[str]:
        return self._inactive

    def tags(self, handler_id: str) -> dict[str, set[str]]:
        return {}


class _FixedHealth(HealthTracker):
    """Health as it was recorded; replays never change it."""

    def __init__(self, unhealthy: set[str]) -> None:
        super().__init__()
        self._sick = unhealthy

    def observe(self, handler_id: str, version: str, status: int, now_us: int) -> bool:
        return False

    def unhealthy(self, handler_id: str, now_us: int) -> set[str]:
        return self._sick


class Replayer:
    """Replays recorded requests of ``app`` from the database behind ``engine``."""

    def __init__(
        self,
        *,
        app: App,
        engine: AsyncEngine,
        version: str | None = None,
        live: bool = False,
        settings: Settings | None = None,
        live_modules: dict[str, Any] | None = None,
    ) -> None:
        self.app = app
        self.engine = engine
        self.version = version
        self.settings = settings or Settings()
        if live and self.settings.environment == "production":
            raise ReplayError(
                "--live calls real modules and is refused in production; set "
                "GATI_ENVIRONMENT to development or staging to allow it"
            )
        if live and live_modules is None:
            raise ReplayError("a live replay needs the started modules (live_modules=)")
        app.validate()
        modules = {
            name: ModuleEntry((live_modules or {}).get(name, _Placeholder(name)), spec.policy)
            for name, spec in app.modules.items()
        }
        self.live = live
        # Secret lookups are effects: replay serves them from the record, never a source.
        self.services = services(app, app_config(app, self.settings), modules)

    async def replay(self, request_id: str, *, at: int | None = None) -> ReplayResult:
        return await self.replay_record(await load_one(self.engine, request_id), at=at)

    async def replay_record(
        self, record: RecordedRequest, *, at: int | None = None
    ) -> ReplayResult:
        started = time.perf_counter()
        resume: Snapshot | None = record.snapshot_at(at) if at is not None else None
        divergences: list[Divergence] = []
        effects_ref: list[ReplayEffects] = []
        recorded_effects = [s for s in record.effects if at is None or s.seq > at]

        def effects(scope: RequestScope) -> ReplayEffects:
            live = LiveEffects(scope) if self.live else None
            ledger = ReplayEffects(
                scope, recorded_effects, live=live, on_divergence=divergences.append
            )
            effects_ref.append(ledger)
            return ledger

        inactive, unhealthy = self._unavailable(record)
        pipeline = Pipeline(
            self.app,
            self.services,
            clock=SystemClock(),
            effects=effects,
            versions=_Pinned(inactive),
            health=_FixedHealth(unhealthy),
            snapshots="off",
            serialize_details=False,
        )
        envelope = self._envelope(record)
        try:
            outcome = await pipeline.process(
                envelope, resume=resume, delivery=Delivery(appended_at_us=record.appended_at_us))
        except GatiError as exc:
            return self._failed(record, started, exc.message)
        want = recorded_trace(record, after_seq=at if at is not None else -1)
        got = replayed_trace(outcome.events, outcome.raw_details)
        if at is not None and "routed" in " ".join(got[:3]):
            got = got[next(i for i, s in enumerate(got) if s.startswith("routed")) + 1 :]
            want = [s for s in want if not s.startswith(("hook_start", "hook_end")) or s in got]
        divergence = divergences[0] if divergences else None
        if divergence is None and effects_ref:
            divergence = unused_effects(effects_ref[0].unused)
        divergence = (
            divergence or response_difference(record, outcome) or first_trace_difference(want, got)
        )
        routed: dict[str, Any] = next(
            (outcome.raw_details[i] or {} for i, e in enumerate(outcome.events)
             if e.stage == "routed"), {}
        )
        return ReplayResult(
            request_id=record.request_id,
            identical=divergence is None,
            divergence=divergence,
            recorded_status=record.response.status,
            replayed_status=outcome.response.status,
            recorded_version=record.version,
            replayed_version=routed.get("version"),
            recorded_trace=tuple(want),
            replayed_trace=tuple(got),
            recorded_body=record.response.body,
            replayed_body=outcome.response.body,
            duration_ms=(time.perf_counter() - started) * 1000,
        )

    async def replay_many(
        self,
        request_ids: Sequence[str] | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        handler: str | None = None,
        on_progress: Callable[[ReplayResult], None] | None = None,
    ) -> BatchResult:
        """Replay ids, or every recorded request in [since, until) of ``handler``."""
        if request_ids is None:
            if since is None:
                raise ReplayError("give request ids or a window start (since)")
            request_ids = await window(self.engine, since=since, until=until, handler=handler)
        started = time.perf_counter()
        same: list[str] = []
        diverged: list[ReplayResult] = []
        failed: list[ReplayResult] = []
        for start in range(0, len(request_ids), 500):
            chunk = list(request_ids[start : start + 500])
            records = await load(self.engine, chunk)
            for rid in chunk:
                rec = records.get(rid)
                if rec is None:
                    result = _missing(rid)
                else:
                    result = await self.replay_record(rec)
                if result.error is not None:
                    failed.append(result)
                elif result.identical:
                    same.append(rid)
                else:
                    diverged.append(result)
                if on_progress is not None:
                    on_progress(result)
        return BatchResult(
            len(request_ids),
            tuple(same),
            tuple(diverged),
            tuple(failed),
            time.perf_counter() - started,
        )

    def _unavailable(self, record: RecordedRequest) -> tuple[set[str], set[str]]:
        """The versions that could not serve when the request was recorded.

        A request carried to a later version through transformers replays the same way:
        the versions between the one it asked for and the one that served are inactive
        again (or unhealthy, as recorded), unless another version is asked for.
        """
        routed = next((s.detail for s in record.steps if s.stage == "routed"), {})
        if self.version is not None or routed.get("plan") != "transformed":
            return set(), set()
        family = self.app.families.get(record.handler_id or "")
        if family is None:
            return set(), set()
        labels = [v.label for v in family.versions]
        asked, served = routed.get("requested_version"), routed.get("version")
        if asked not in labels or served not in labels:
            return set(), set()
        between = set(labels[labels.index(asked):labels.index(served)])
        sick = set(routed.get("unhealthy", [])) & between
        return between - sick, sick

    def _envelope(self, record: RecordedRequest) -> RequestEnvelope:
        env = record.envelope
        now = SystemClock().now_us()
        stages = {s.stage for s in record.steps}
        budget = max(1_000_000, env.deadline_at_us - env.received_at_us)
        deadline = now - 1 if "expired" in stages else now + budget
        rejection = None
        if "rejected" in stages:
            step = next(s for s in record.steps if s.stage == "rejected")
            message = _error_message(record.response.body)
            rejection = Rejection(step.status or 400, step.error_code or "rejected", message)
        routed = next((s.detail for s in record.steps if s.stage == "routed"), {})
        pref = self.version or routed.get("requested_version") or record.version \
            or env.version_pref
        return RequestEnvelope(
            request_id=env.request_id,
            gateway_id=env.gateway_id,
            reply_topic="",
            reply_partition=0,
            received_at_us=now,
            deadline_at_us=deadline,
            method=env.method,
            path=env.path,
            query=env.query,
            headers=env.headers,
            body=env.body,
            client=env.client,
            version_pref=pref,
            rejection=rejection,
            accept_by_us=env.accept_by_us,  # with the recorded append time: refused again
        )

    def _failed(self, record: RecordedRequest, started: float, error: str) -> ReplayResult:
        return ReplayResult(
            record.request_id,
            False,
            None,
            record.response.status,
            None,
            record.version,
            None,
            (),
            (),
            record.response.body,
            b"",
            (time.perf_counter() - started) * 1000,
            error,
        )


def _missing(rid: str) -> ReplayResult:
    return ReplayResult(
        rid, False, None, 0, None, None, None, (), (), b"", b"", 0.0, "no complete record"
    )


def _error_message(body: bytes) -> str:
    try:
        return str(json.loads(body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return ""


def _body(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")


def _plain(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
