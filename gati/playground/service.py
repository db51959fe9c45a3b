"""What the playground's API does, over the store's read model and the one Replayer.

No SQL here and no HTTP: requests are found by ``gati.store.search`` and read through
``Store.timeline`` (the record's one read model); replays run through
``gati.replay.Replayer``, the engine ``gati replay`` uses. The ASGI server turns these
methods into routes, so the page, the tests and scripts all see the same answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from gati.cli.render import timeline_json
from gati.config import Settings
from gati.core.app import App
from gati.errors import GatiError
from gati.playground.filters import (
    decode_cursor,
    encode_cursor,
    invalid,
    parse_filter,
    parse_limit,
    when,
)
from gati.playground.gates import GateDesk, GateTable
from gati.playground.records import export_document, parse_document, request_json
from gati.replay import BatchResult, Replayer, ReplayResult
from gati.replay.record import RecordedRequest, ReplayError
from gati.store.search import Key, RequestFilter, arrivals
from gati.store.search import search as find_requests
from gati.store.store import Store
from gati.store.timeline import Timeline
from gati.store.versions import TimescapeError, VersionRegistry, compatibility

MAX_BATCH = 10_000  # requests one batch replay may cover
TAIL_BATCH = 500  # new requests per read of the live tail; a full one is read again at once
TAIL_LOOKBACK = timedelta(seconds=10)  # how much slower than its neighbours a request may be
TAIL_RECORDER_LAG = timedelta(seconds=3)  # how long after its answer a request may be recorded


def _item(tl: Timeline) -> dict[str, Any]:
    """A request as the list shows it: the timeline's header, without its steps."""
    out = timeline_json(tl)
    del out["steps"]
    return out


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """How to replay, as the API's JSON body says: validated, each field named if not."""

    version: str | None = None
    raw: bool = False
    at: int | None = None
    body: bytes | None = None  # an edited request body: a new, marked replay
    snapshot: int | None = None  # the N-th snapshot (from 1): ``at`` its step, once known

    @classmethod
    def parse(cls, doc: Any) -> ReplayOptions:
        if doc is None:
            return cls()
        if not isinstance(doc, dict):
            raise invalid("body", "the replay options must be a JSON object")
        unknown = sorted(set(doc) - {"version", "raw", "at", "snapshot", "body"})
        if unknown:
            raise invalid(unknown[0], "unknown replay option (version, raw, at, snapshot, "
                                      "body)")
        version, raw, at = doc.get("version"), doc.get("raw", False), doc.get("at")
        if version is not None and (not isinstance(version, str) or not version.strip()):
            raise invalid("version", "must be a version label, tag or date")
        if not isinstance(raw, bool):
            raise invalid("raw", "must be true or false")
        if raw and version is None:
            raise invalid("raw", "applies to a replay against another version (give version)")
        if at is not None and (not isinstance(at, int) or isinstance(at, bool) or at < 0):
            raise invalid("at", "must be the step number of a snapshot")
        nth = doc.get("snapshot")
        if nth is not None and (not isinstance(nth, int) or isinstance(nth, bool) or nth < 1):
            raise invalid("snapshot", "must be a snapshot's number, counting from 1")
        if nth is not None and at is not None:
            raise invalid("snapshot", "give the snapshot's number or its step (at), not both")
        body = None
        if "body" in doc:
            edited = doc["body"]
            body = edited.encode() if isinstance(edited, str) else json.dumps(
                edited, separators=(",", ":")).encode()
        return cls(version, raw, at, body, nth)

    def resolved(self, record: RecordedRequest) -> ReplayOptions:
        """``snapshot`` N as the step ``at`` it is in this record (snapshots in step order).

        Raises:
            RequestError: the record has fewer than N snapshots (400, field ``snapshot``).
        """
        if self.snapshot is None:
            return self
        seqs = [s.seq for s in record.steps if s.stage == "snapshot"]
        if self.snapshot > len(seqs):
            raise invalid("snapshot", f"request {record.request_id} has {len(seqs)} "
                                      f"snapshot(s), not {self.snapshot}")
        return replace(self, at=seqs[self.snapshot - 1])


class Playground:
    """The API's operations over ``store``; replays need ``app`` (the code to run)."""

    def __init__(self, store: Store, *, app: App | None = None,
                 settings: Settings | None = None, gates: GateTable | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        """``gates``: the worker's debug gates, when it runs in this process (gati dev),
        or ``RemoteGates`` steering Kafka workers over the control topic."""
        self.store = store
        self.app = app
        self.settings = settings or Settings()
        self.gates = GateDesk(gates, app, self.settings)
        self.registry = VersionRegistry(store.engine)
        self._replayers: dict[tuple[str | None, bool], Replayer] = {}
        self._jobs: dict[str, _BatchJob] = {}
        self._clock = clock

    # -- reading --------------------------------------------------------------------

    async def search(self, params: Mapping[str, str]) -> dict[str, Any]:
        flt = parse_filter(params)
        page = await find_requests(self.store, flt, limit=parse_limit(params.get("limit")),
                                   after=decode_cursor(params.get("cursor")))
        return {"items": [_item(t) for t in page.items], "next_cursor": encode_cursor(page.next),
                "scanned": page.scanned, "truncated": page.truncated}

    async def tail(self, flt: RequestFilter, state: TailState | None) -> tuple[
            list[dict[str, Any]], TailState]:
        """Requests answered since the tail's last read, oldest first, each once.

        A tail starts from now. It reads on from the newest request it has shown, and
        looks back ``TAIL_LOOKBACK`` for slower requests received before that one but
        answered since, so a long request is not skipped by the short ones around it.
        """
        now = self._clock()
        if state is None:
            return [], TailState(Key(now, ""), now, now)
        found, more = await arrivals(self.store, flt, after=state.key,
                                     late_from=max(state.started,
                                                   state.key.received_at - TAIL_LOOKBACK),
                                     answered_since=state.read_at - TAIL_RECORDER_LAG,
                                     limit=TAIL_BATCH)
        new = [t for t in found if t.request_id not in state.seen]
        for t in new:
            assert t.received_at is not None
            state.seen[t.request_id] = t.received_at
            if (t.received_at, t.request_id) > (state.key.received_at, state.key.request_id):
                state.key = Key(t.received_at, t.request_id)
        state.more = more
        if not more:
            state.read_at = now
        floor = state.key.received_at - 2 * TAIL_LOOKBACK
        state.seen = {k: v for k, v in state.seen.items() if v >= floor}
        return [_item(t) for t in new], state

    async def _timeline(self, request_id: str) -> Timeline:
        tl = await self.store.timeline(request_id)
        if tl is None:
            raise invalid("request_id", f"no recorded request {request_id!r}", status=404,
                          code="not_found")
        return tl

    async def request(self, request_id: str) -> dict[str, Any]:
        """One request's record, redacted as recorded, with what replay can offer it."""
        tl = await self._timeline(request_id)
        out = request_json(tl)
        out["replayable"] = RecordedRequest.of(tl) is not None and self.app is not None
        out["replay_versions"] = self._versions_of(tl.handler_id)
        return out

    def _versions_of(self, handler_id: str | None) -> list[dict[str, Any]]:
        family = None if self.app is None or handler_id is None else \
            self.app.families.get(handler_id)
        if family is None:
            return []
        return [{"version": v.label, "tags": list(v.tags)} for v in family.versions]

    async def export(self, request_id: str) -> dict[str, Any]:
        return export_document(await self._timeline(request_id))

    # -- replay ---------------------------------------------------------------------

    def _replayer(self, options: ReplayOptions) -> Replayer:
        if self.app is None:
            raise invalid("app", "replay runs the app's code: start the playground with "
                                 "--app (or GATI_APP)", status=409, code="no_app")
        key = (options.version, options.raw)
        if key not in self._replayers:
            self._replayers[key] = Replayer(app=self.app, engine=self.store.engine,
                                            version=options.version, raw=options.raw,
                                            settings=self.settings)
        return self._replayers[key]

    async def replay(self, request_id: str, doc: Any) -> dict[str, Any]:
        options = ReplayOptions.parse(doc)
        tl = await self._timeline(request_id)
        return await self._replay_timeline(tl, options)

    async def replay_import(self, data: bytes, doc: Any = None) -> dict[str, Any]:
        """Replay an exported file: the store is not read, so it works on any machine."""
        tl = parse_document(data)
        result = await self._replay_timeline(tl, ReplayOptions.parse(doc))
        result["imported"] = True
        return result

    async def _replay_timeline(self, tl: Timeline, options: ReplayOptions) -> dict[str, Any]:
        record = RecordedRequest.of(tl)
        if record is None:
            raise invalid("request_id", f"request {tl.request_id} has no complete record yet "
                                        "(no answer recorded)", status=409, code="incomplete")
        self._check_version(record, options.version)
        options = options.resolved(record)
        if options.body is not None:
            record = replace(record, envelope=replace(record.envelope, body=options.body))
        replayer = self._replayer(options)
        try:
            result = await replayer.replay_record(record, at=options.at)
        except ReplayError as exc:
            raise invalid("at" if options.at is not None else "request_id", exc.message) from None
        out = result.to_json()
        out["edited"] = options.body is not None
        out["kind"] = _kind(options)
        out["from_step"] = options.at
        return out

    def _check_version(self, record: RecordedRequest, version: str | None) -> None:
        if version is None or self.app is None or record.handler_id is None:
            return
        family = self.app.families.get(record.handler_id)
        if family is None:
            return
        try:
            family.label_of(version)
        except GatiError:
            labels = ", ".join(family.describe())
            raise invalid("version", f"{record.handler_id} has no version {version!r} "
                                     f"(versions: {labels})") from None

    async def _window(self, doc: Any) -> tuple[list[str], ReplayOptions]:
        if not isinstance(doc, dict):
            raise invalid("body", "the batch must be a JSON object with since (and until, "
                                  "handler, version)")
        since = when("since", str(doc.get("since") or ""))
        until = when("until", str(doc["until"])) if doc.get("until") else None
        handler = doc.get("handler") or None
        options = ReplayOptions.parse({k: v for k, v in doc.items()
                                       if k in ("version", "raw")})
        ids = await self.store.window(since=since, until=until, handler=handler,
                                      limit=MAX_BATCH + 1)
        if len(ids) > MAX_BATCH:
            raise invalid("since", f"over {MAX_BATCH} requests in the window; narrow it")
        self._replayer(options)  # refuses now, not in the background, when there is no app
        return ids, options

    async def batch(self, doc: Any) -> dict[str, Any]:
        """Replay every answered request in a window against a version; a summary."""
        ids, options = await self._window(doc)
        return _batch_summary(await self._replayer(options).replay_many(ids), options)

    async def start_batch(self, doc: Any) -> dict[str, Any]:
        """The same batch in the background: a job whose progress the page polls."""
        ids, options = await self._window(doc)
        job = _BatchJob(f"batch-{len(self._jobs) + 1}", len(ids))
        self._jobs[job.job_id] = job

        async def run() -> None:
            def progress(_r: ReplayResult) -> None:
                job.replayed += 1

            try:
                result = await self._replayer(options).replay_many(ids, on_progress=progress)
                job.summary = _batch_summary(result, options)
            except GatiError as exc:
                job.error = exc.message

        job.task = asyncio.create_task(run())
        return job.to_json()

    def batch_job(self, job_id: str) -> dict[str, Any]:
        job = self._jobs.get(job_id)
        if job is None:
            raise invalid("job_id", f"no batch {job_id!r}", status=404, code="not_found")
        return job.to_json()

    # -- versions -------------------------------------------------------------------

    async def compatibility(self, params: Mapping[str, str]) -> dict[str, Any]:
        """The compatibility report between two registered versions of a handler."""
        for name in ("handler", "old", "new"):
            if not params.get(name):
                raise invalid(name, "give handler, old and new (versions, tags or dates)")
        rows = []
        for name in ("old", "new"):
            try:
                rows.append(await self.registry.get(params["handler"], params[name]))
            except TimescapeError as exc:
                field = "handler" if exc.message.startswith("unknown handler") else name
                raise invalid(field, exc.message, status=404, code="not_found") from None
        return compatibility(params["handler"], rows[0], rows[1])

    async def versions(self, handler: str | None, hot_per_hour: int = 100) -> list[
            dict[str, Any]]:
        rows = await self.registry.versions(handler)
        usage = await self.registry.usage(handler)
        out = []
        for r in rows:
            use = usage.get((r.handler_id, r.version))
            out.append({
                "handler_id": r.handler_id, "version": r.version, "tags": list(r.all_tags),
                "status": r.status, "breaking": r.manifest.get("breaking"),
                "method": r.method, "path": r.path, "fingerprint": r.fingerprint,
                "requests_1h": use.last_hour if use else 0,
                "requests_24h": use.last_day if use else 0,
                "temperature": use.temperature(hot_per_hour) if use else "cold",
            })
        return out


@dataclass(slots=True)
class TailState:
    """Where a live tail is: the newest request it has shown, when it last read
    everything, and the ids it has shown lately (so a late one is shown once)."""

    key: Key
    read_at: datetime
    started: datetime  # requests received before are not new
    seen: dict[str, datetime] = field(default_factory=dict)
    more: bool = False  # the last read was full: read again at once


@dataclass(slots=True)
class _BatchJob:
    job_id: str
    total: int
    replayed: int = 0
    summary: dict[str, Any] | None = None
    error: str | None = None
    task: asyncio.Task[None] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "total": self.total, "replayed": self.replayed,
                "done": self.summary is not None or self.error is not None,
                "summary": self.summary, "error": self.error}


def _batch_summary(batch: BatchResult, options: ReplayOptions) -> dict[str, Any]:
    return {"total": batch.total, "identical": len(batch.identical),
            "diverged": [_summary(r) for r in batch.diverged],
            "failed": [{"request_id": r.request_id, "error": r.error} for r in batch.failed],
            "duration_s": round(batch.duration_s, 3), "version": options.version}


def _kind(options: ReplayOptions) -> str:
    if options.body is not None:
        return "edited"
    if options.at is not None:
        return "from_snapshot"
    return "against_version" if options.version is not None else "as_recorded"


def _summary(r: ReplayResult) -> dict[str, Any]:
    d = r.divergence
    return {"request_id": r.request_id, "message": d.message if d else r.error,
            "recorded_status": r.recorded_status, "replayed_status": r.replayed_status}
