"""Debug gates across processes: a Kafka worker steered by a ``gati playground``.

Two short-lived topics carry it. The playground publishes on ``<prefix>.gates.control``
its whole gate table (again every ``TABLE_PERIOD_S``, so a worker that starts later has
it within that time, and a table nobody republishes for ``TABLE_TTL_S`` is lifted: its
playground is gone) and each decision on a paused request, addressed to one worker.
Each worker reads that topic with a consumer of its own, outside the requests group
(every worker must see every command), from the end: commands are live, not history.
It reports on ``<prefix>.gates.paused`` the gates in force and the requests paused in
it, when that changes and every ``REPORT_PERIOD_S``.

The messages are JSON, not Avro: like the reply topics they are read only by Gati's
own processes and kept an hour; the durable record of a pause, an edit and a resume is
the request's lifecycle steps, written by the pipeline as under ``gati dev``. The state
a pause reports is the one its ``gate_paused`` step records, secrets masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gati.config import Settings
from gati.core.gates import ACTIONS, DebugGates, Decision, GateSpec, gates_allowed
from gati.core.pipeline import Pipeline
from gati.core.ports import EventLog, Subscription, TopicSpec
from gati.errors import GatiError

log = logging.getLogger(__name__)

TABLE_PERIOD_S = 2.0
TABLE_TTL_S = 10.0
REPORT_PERIOD_S = 2.0
REPORT_TTL_S = 10.0  # the playground forgets a worker that has not reported for this long
POLL_S = 0.2
MAX_MESSAGE_BYTES = 1024 * 1024
RETENTION_MS = 3_600_000


def gate_topics(settings: Settings) -> tuple[str, str]:
    """(control, reports): what the playground sends, what workers answer."""
    return f"{settings.topic_prefix}.gates.control", f"{settings.topic_prefix}.gates.paused"


def topic_specs(settings: Settings) -> list[TopicSpec]:
    return [TopicSpec(name, 1, retention_ms=RETENTION_MS) for name in gate_topics(settings)]


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), default=str).encode()


def decode(data: bytes) -> dict[str, Any] | None:
    """A control message, or None for what is not one (bounded: a megabyte at most)."""
    if len(data) > MAX_MESSAGE_BYTES:
        return None
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("type"), str) else None


def decision_of(doc: dict[str, Any]) -> Decision | None:
    action, edits, deletes = doc.get("action"), doc.get("set") or {}, doc.get("delete") or []
    if action not in ACTIONS or not isinstance(edits, dict) or not isinstance(deletes, list):
        return None
    return Decision(str(action), edits, tuple(str(k) for k in deletes))


@dataclass(slots=True)
class _Table:
    seen: float
    specs: dict[str, GateSpec]


class WorkerGateControl:
    """One worker's end: applies the playground's gate tables to its ``DebugGates``,
    passes decisions on to the paused requests, reports what is paused."""

    def __init__(self, gates: DebugGates, log_: EventLog, settings: Settings, *,
                 worker_id: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.gates = gates
        self.worker_id = worker_id
        self._log = log_
        self._settings = settings
        self._control, self._reports = gate_topics(settings)
        self._clock = clock
        self._tables: dict[str, _Table] = {}
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._reported: tuple[Any, ...] | None = None
        self._reported_at = 0.0

    async def start(self) -> None:
        """Declare the topics and start reading; the worker's log must be started."""
        await self._log.ensure_topics(topic_specs(self._settings))
        self._sub = self._log.subscribe([self._control], group=None)
        await self._sub.start()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.stop()
            self._sub = None

    async def _run(self) -> None:
        assert self._sub is not None
        while True:
            try:
                for record in await self._sub.fetch(max_records=100, timeout_s=POLL_S):
                    doc = decode(record.value)
                    if doc is not None:
                        self.apply(doc)
                self._expire()
                await self._report_if_due()
            except GatiError as exc:
                log.warning("debug gate control: %s (retrying)", exc.message)
                await asyncio.sleep(1.0)  # back off from a broker that is down
            except Exception:
                log.exception("debug gate control failed a round (going on)")
                await asyncio.sleep(1.0)

    def apply(self, doc: dict[str, Any]) -> None:
        """One command: a playground's gate table, or a decision for a request here."""
        if doc["type"] == "gates" and isinstance(doc.get("playground"), str) \
                and isinstance(doc.get("gates"), list):
            specs = [GateSpec.from_json(g) for g in doc["gates"]]
            self._tables[doc["playground"]] = _Table(
                self._clock(), {s.gate_id: s for s in specs if s is not None})
            self._sync()
        elif doc["type"] == "decide" and doc.get("worker_id") == self.worker_id:
            decision = decision_of(doc)
            if decision is not None and isinstance(doc.get("pause_id"), str):
                self.gates.decide(doc["pause_id"], decision)

    def _expire(self) -> None:
        now = self._clock()
        gone = [k for k, t in self._tables.items() if now - t.seen > TABLE_TTL_S]
        for key in gone:
            del self._tables[key]
        if gone:
            self._sync()

    def _sync(self) -> None:
        wanted = {gid: s for t in self._tables.values() for gid, s in t.specs.items()}
        for spec in self.gates.gates():
            if wanted.get(spec.gate_id) != spec:
                self.gates.remove(spec.gate_id)
        for gid, spec in wanted.items():
            if gid not in {g.gate_id for g in self.gates.gates()}:
                self.gates.add(spec)

    async def _report_if_due(self) -> None:
        paused = [p.to_json() for p in self.gates.paused()]
        gates = sorted(g.gate_id for g in self.gates.gates())
        key = (tuple(p["pause_id"] for p in paused), tuple(gates))
        now = self._clock()
        if key == self._reported and now - self._reported_at < REPORT_PERIOD_S:
            return
        await self._log.send(self._reports, encode({
            "type": "report", "worker_id": self.worker_id, "gates": gates,
            "paused": paused}), key=self.worker_id.encode())
        self._reported, self._reported_at = key, now


async def start_gate_control(pipeline: Pipeline, log_: EventLog, settings: Settings,
                             env: Mapping[str, str]) -> WorkerGateControl | None:
    """Give ``pipeline`` debug gates steered over the control topic; None (no gates, no
    consumer) where gates are refused: production without ``GATI_DEBUG_GATES=1``."""
    if not gates_allowed(settings.environment, env):
        return None
    gates = DebugGates()
    control = WorkerGateControl(gates, log_, settings,
                                worker_id=pipeline.worker_id or settings.effective_worker_id())
    try:
        await control.start()
    except GatiError as exc:  # the worker serves on without gates rather than not at all
        log.warning("debug gates off: cannot read %s: %s", gate_topics(settings)[0],
                    exc.message)
        return None
    pipeline.gates = gates
    return control
