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
from gati.core.gates import RecordedGates
from gati.core.pipeline import Delivery, Outcome, Pipeline, PipelineOptions, SnapshotPolicy
from gati.core.ports import SystemClock
from gati.core.scope import RequestScope
from gati.core.timescape import Family, HealthTracker, VersionUnavailable
from gati.errors import GatiError
from gati.replay.compare import (
    first_trace_difference,
    recorded_trace,
    replayed_trace,
    response_difference,
    unused_effects,
)
from gati.replay.ledger import Divergence, ReplayEffects
from gati.replay.record import RecordedRequest, ReplayError, load, load_one
from gati.store.store import Store
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


# Replay takes no snapshots of its own, and compares step details as the objects they are.
_OPTIONS = PipelineOptions(snapshots=SnapshotPolicy("off"), details_as_objects=True)


@dataclass(frozen=True, slots=True)
class _Route:
    """How one replay is routed: the version the envelope asks for, the versions that
    cannot serve, and whether it is served by another version than the record was
    (``across``: then routing and transformer steps differ by design, not compared)."""

    preference: str | None
    inactive: set[str]
    unhealthy: set[str]
    across: bool = False


class _Ledgers:
    """The effects of one replay: served from the record, divergences collected."""

    def __init__(self, record: RecordedRequest, at: int | None, live: bool) -> None:
        self.recorded = [s for s in record.effects if at is None or s.seq > at]
        cut = next((s for s in record.steps
                    if s.stage == "timeout" and s.error_code == "handler_timeout"), None)
        self.cut_by_timeout = cut is not None
        self.withhold_last = cut is not None and bool(cut.detail.get("result_withheld"))
        self.budget_s = None if cut is None else cut.detail.get("timeout_s")
        self.live = live
        self.divergences: list[Divergence] = []
        self.made: list[ReplayEffects] = []

    def __call__(self, scope: RequestScope) -> ReplayEffects:
        live = LiveEffects(scope) if self.live else None
        scope.recorded_budget_s = self.budget_s
        ledger = ReplayEffects(
            scope, self.recorded, live=live, cut_by_timeout=self.cut_by_timeout,
            withhold_last=self.withhold_last, on_divergence=self.divergences.append,
        )
        self.made.append(ledger)
        return ledger

    def first_divergence(self) -> Divergence | None:
        if self.divergences:
            return self.divergences[0]
        return unused_effects(self.made[0].unused) if self.made else None


class Replayer:
    """Replays recorded requests of ``app`` from the database behind ``engine``.

    ``version``: serve each request with this version instead of the recorded one, the
    way the live system serves a client pinned to the version it asked for: its request
    carried up through the transformers, the response back down, then compared with
    what the client got. ``raw``: hand the recorded request to ``version`` as it is.
    """

    def __init__(
        self,
        *,
        app: App,
        engine: AsyncEngine,
        version: str | None = None,
        raw: bool = False,
        live: bool = False,
        settings: Settings | None = None,
        live_modules: dict[str, Any] | None = None,
    ) -> None:
        self.app = app
        self.engine = engine
        self.store = Store(engine)
        self.version = version
        if raw and version is None:
            raise ReplayError("--raw applies to a replay against another version (--version)")
        self.raw = raw
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
        return await self.replay_record(await load_one(self.store, request_id), at=at)

    async def replay_record(
        self, record: RecordedRequest, *, at: int | None = None
    ) -> ReplayResult:
        started = time.perf_counter()
        resume: Snapshot | None = record.snapshot_at(at) if at is not None else None
        ledgers = _Ledgers(record, at, self.live)
        try:
            route = self._route(record)
            pipeline = Pipeline(
                self.app,
                self.services,
                clock=SystemClock(),
                effects=ledgers,
                versions=_Pinned(route.inactive),
                health=_FixedHealth(route.unhealthy),
                options=_OPTIONS,
            )
            pipeline.gates = RecordedGates(record.steps)  # a steered request, steered again
            outcome = await pipeline.process(
                self._envelope(record, route.preference), resume=resume,
                delivery=Delivery(appended_at_us=record.appended_at_us))
        except GatiError as exc:
            return self._failed(record, started, exc.message)
        want, got = _traces(record, outcome, at)
        compared = (_same_route(want), _same_route(got)) if route.across else (want, got)
        divergence = (
            ledgers.first_divergence()
            or response_difference(record, outcome)
            or first_trace_difference(*compared)
        )
        return ReplayResult(
            request_id=record.request_id,
            identical=divergence is None,
            divergence=divergence,
            recorded_status=record.response.status,
            replayed_status=outcome.response.status,
            recorded_version=record.version,
            replayed_version=_served_version(outcome),
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
            request_ids = await self.store.window(since=since, until=until, handler=handler)
        started = time.perf_counter()
        same: list[str] = []
        diverged: list[ReplayResult] = []
        failed: list[ReplayResult] = []
        for start in range(0, len(request_ids), 500):
            chunk = list(request_ids[start : start + 500])
            records = await load(self.store, chunk)
            for rid in chunk:
                rec = records.get(rid)
                result = _missing(rid) if rec is None else await self.replay_record(rec)
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

    def _route(self, record: RecordedRequest) -> _Route:
        """Which version the replay asks for, and which versions cannot serve it.

        Raises:
            GatiError: ``version`` cannot serve this request as the live system would.
        """
        asked = record.routed.get("requested_version") or record.version
        if self.version is None:
            inactive, unhealthy = self._unavailable(record)
            return _Route(asked or record.envelope.version_pref, inactive, unhealthy)
        family = self._family(record)
        if self.raw or family is None or asked is None:
            # Raw, or never routed to a handler (rejected, unknown route): no version to
            # carry the request from; it goes to ``version`` as it is, compared in full.
            return _Route(self.version, set(), set())
        return self._pinned(family, asked, record.version)

    def _family(self, record: RecordedRequest) -> Family | None:
        """The handler family the recorded request routes to, found as the live system
        finds it (by method and path), or None when it routes nowhere now."""
        try:
            return self.app.router.match(record.envelope.method, record.envelope.path).route.target
        except GatiError:
            return None

    def _pinned(self, family: Family, asked: str, served: str | None) -> _Route:
        """Serve a client pinned to ``asked`` with ``self.version``, as the live system does
        when the versions from ``asked`` up to it cannot serve: through the transformers.

        Raises:
            GatiError: ``version`` is unknown, older than ``asked``, or not reachable.
        """
        assert self.version is not None
        target = family.resolve(self.version).label
        labels = [v.label for v in family.versions]
        if asked not in labels:
            raise ReplayError(
                f"{family.handler_id} no longer has version {asked}, the one the client "
                f"asked for; --raw hands the recorded request to {target} as it is")
        if labels.index(target) < labels.index(asked):
            raise ReplayError(
                f"{target} is older than {asked}, the version the client asked for, and the "
                "live system never serves a client an older version; --raw hands the "
                f"recorded request to {target} as it is")
        between = set(labels[labels.index(asked) : labels.index(target)])
        try:
            family.plan(family.label_of(asked), between)
        except VersionUnavailable:
            raise ReplayError(
                f"no transformers carry {family.handler_id} from {asked} up to {target}; "
                f"--raw hands the recorded request to {target} as it is") from None
        return _Route(asked, between, set(), across=target != served)

    def _unavailable(self, record: RecordedRequest) -> tuple[set[str], set[str]]:
        """The versions that could not serve when the request was recorded.

        A request carried to a later version through transformers replays the same way:
        the versions between the one it asked for and the one that served are inactive
        again (or unhealthy, as recorded).
        """
        routed = record.routed
        if routed.get("plan") != "transformed":
            return set(), set()
        family = self._family(record)
        if family is None:
            return set(), set()
        labels = [v.label for v in family.versions]
        asked, served = routed.get("requested_version"), routed.get("version")
        if asked not in labels or served not in labels:
            return set(), set()
        between = set(labels[labels.index(asked):labels.index(served)])
        sick = set(routed.get("unhealthy", [])) & between
        return between - sick, sick

    def _envelope(self, record: RecordedRequest, preference: str | None) -> RequestEnvelope:
        env = record.envelope
        now = SystemClock().now_us()
        budget = max(1_000_000, env.deadline_at_us - env.received_at_us)
        deadline = now - 1 if record.step("expired") is not None else now + budget
        rejection = None
        rejected = record.step("rejected")
        if rejected is not None:
            message = _error_message(record.response.body)
            rejection = Rejection(rejected.status or 400, rejected.error_code or "rejected",
                                  message)
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
            version_pref=preference,
            rejection=rejection,
            accept_by_us=env.accept_by_us,  # with the recorded append time: refused again
            auth=env.auth,  # the recorded principal: every auth decision is made again
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


def _traces(record: RecordedRequest, outcome: Outcome, at: int | None) -> tuple[list[str],
                                                                                  list[str]]:
    """The recorded and replayed traces, from step ``at`` on when resuming a snapshot."""
    want = recorded_trace(record, after_seq=at if at is not None else -1)
    got = replayed_trace(outcome.events, outcome.raw_details)
    if at is not None and "routed" in " ".join(got[:3]):
        got = got[next(i for i, s in enumerate(got) if s.startswith("routed")) + 1 :]
        want = [s for s in want if not s.startswith(("hook_start", "hook_end")) or s in got]
    return want, got


def _same_route(trace: list[str]) -> list[str]:
    """A trace without the steps that name versions (routing and transformers), which
    differ by design when another version serves."""
    return [s for s in trace if not s.startswith(("routed ", "transform "))]


def _served_version(outcome: Outcome) -> str | None:
    routed: dict[str, Any] = next(
        (outcome.raw_details[i] or {} for i, e in enumerate(outcome.events)
         if e.stage == "routed"), {}
    )
    version = routed.get("version")
    return None if version is None else str(version)


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
