"""The playground's end of debug gates on Kafka workers (``gati playground``).

A :class:`~gati.playground.gates.GateTable` over the control topics of
``gati.worker.control``: the gates set here are published as one table (on every
change, and again every ``TABLE_PERIOD_S`` while the playground lives), decisions go
to the worker that holds the paused request, and the paused requests shown are what
the workers last reported. A paused request is named ``<pause id>@<worker id>``, since
each worker numbers its own pauses.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gati.config import Settings
from gati.core.gates import Decision, GateSpec
from gati.core.ports import EventLog, Subscription
from gati.errors import GatiError
from gati.worker.control import (
    POLL_S,
    REPORT_TTL_S,
    TABLE_PERIOD_S,
    decode,
    encode,
    gate_topics,
    topic_specs,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RemotePause:
    """A request paused in a worker, as that worker last reported it."""

    worker_id: str
    doc: dict[str, Any]

    @property
    def pause_id(self) -> str:
        return f"{self.doc.get('pause_id')}@{self.worker_id}"

    def to_json(self) -> dict[str, Any]:
        return {**self.doc, "pause_id": self.pause_id, "worker_id": self.worker_id}


@dataclass(slots=True)
class _Report:
    seen: float
    gates: list[str]
    paused: list[dict[str, Any]]


class RemoteGates:
    """Gates set from this playground, in force on every worker that reads ``log``."""

    def __init__(self, log_: EventLog, settings: Settings, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log = log_
        self._settings = settings
        self._control, self._reports = gate_topics(settings)
        self._clock = clock
        self.playground_id = f"pg-{os.getpid()}-{os.urandom(3).hex()}"
        self._ids = itertools.count(1)
        self._specs: dict[str, GateSpec] = {}
        self._workers: dict[str, _Report] = {}
        self._outbox: list[dict[str, Any]] = []
        self._sub: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Declare the topics, read the workers' reports, republish the table."""
        await self._log.start()
        await self._log.ensure_topics(topic_specs(self._settings))
        self._sub = self._log.subscribe([self._reports], group=None)
        await self._sub.start()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._read()), loop.create_task(self._republish())]

    async def stop(self) -> None:
        """Lift this playground's gates (an empty table) and stop."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._specs.clear()
        with contextlib.suppress(Exception):
            await self.flush()
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.stop()
        await self._log.stop()

    # -- the GateTable the playground's desk uses -------------------------------------

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{self.playground_id[3:]}-{next(self._ids)}"

    def add(self, spec: GateSpec) -> GateSpec:
        self._specs[spec.gate_id] = spec
        return spec

    def remove(self, gate_id: str) -> bool:
        return self._specs.pop(gate_id, None) is not None

    def gates(self) -> list[GateSpec]:
        return list(self._specs.values())

    def in_force(self) -> dict[str, list[str]]:
        """The gates each worker reported in force last (workers heard from lately)."""
        return {w: list(r.gates) for w, r in sorted(self._live_workers().items())}

    def paused(self) -> list[RemotePause]:
        return [RemotePause(w, p) for w, r in sorted(self._live_workers().items())
                for p in r.paused]

    def decide(self, pause_id: str, decision: Decision) -> bool:
        """Queue the decision for the worker holding ``pause_id``; False when no worker
        reports it paused (resumed already, timed out, or never)."""
        local, _, worker = pause_id.partition("@")
        report = self._live_workers().get(worker)
        if report is None or not any(p.get("pause_id") == local for p in report.paused):
            return False
        self._outbox.append({"type": "decide", "worker_id": worker, "pause_id": local,
                             "action": decision.action, "set": dict(decision.set),
                             "delete": list(decision.delete)})
        report.paused = [p for p in report.paused if p.get("pause_id") != local]
        return True

    async def flush(self) -> None:
        """Send the queued decisions, then the table: acknowledged by Kafka on return.

        Raises:
            BackendUnavailable: Kafka does not take them (the call answers 503).
        """
        while self._outbox:
            await self._log.send(self._control, encode(self._outbox[0]))
            self._outbox.pop(0)
        await self._log.send(self._control, encode({
            "type": "gates", "playground": self.playground_id,
            "gates": [s.to_json() for s in self._specs.values()]}))

    # -- background -----------------------------------------------------------------

    def _live_workers(self) -> dict[str, _Report]:
        now = self._clock()
        return {w: r for w, r in self._workers.items() if now - r.seen <= REPORT_TTL_S}

    async def _read(self) -> None:
        assert self._sub is not None
        while True:
            try:
                for record in await self._sub.fetch(max_records=100, timeout_s=POLL_S):
                    doc = decode(record.value)
                    if doc is not None and doc["type"] == "report":
                        self._take(doc)
            except GatiError as exc:
                log.warning("debug gates: cannot read workers' reports: %s", exc.message)
                await asyncio.sleep(1.0)  # back off from a broker that is down

    def _take(self, doc: dict[str, Any]) -> None:
        worker, gates, paused = doc.get("worker_id"), doc.get("gates"), doc.get("paused")
        if isinstance(worker, str) and isinstance(gates, list) and isinstance(paused, list):
            self._workers[worker] = _Report(self._clock(), [str(g) for g in gates],
                                            [p for p in paused if isinstance(p, dict)])

    async def _republish(self) -> None:
        while True:
            await asyncio.sleep(TABLE_PERIOD_S)  # the period itself, not a wait on a race
            try:
                await self.flush()
            except GatiError as exc:
                log.warning("debug gates: cannot publish the gate table: %s", exc.message)


def remote_gates(settings: Settings, env: Mapping[str, str]) -> RemoteGates | None:
    """Gates over the workers' Kafka when ``GATI_KAFKA_BOOTSTRAP`` names it (the
    playground reads a store; only an explicit broker says there are workers to steer)."""
    if not env.get("GATI_KAFKA_BOOTSTRAP"):
        return None
    from gati.log.kafka import KafkaLog

    return RemoteGates(KafkaLog(settings.kafka_bootstrap, client_id="gati-playground"),
                       settings)
