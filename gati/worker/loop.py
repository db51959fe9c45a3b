"""A consumer loop over the ``EventLog`` port: the embedded backend's worker.

Records are handled concurrently up to ``concurrency``; the group offset is committed
only once everything fetched has finished, so a crash re-delivers unfinished work rather
than losing it. Fetching does not wait for that: a request that takes long holds one
slot while the others keep flowing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from gati.core.ports import EventLog, LogRecord

log = logging.getLogger(__name__)


class LogWorker:
    def __init__(
        self,
        handle: Callable[[LogRecord], Coroutine[Any, Any, None]],
        event_log: EventLog,
        *,
        topics: Sequence[str],
        group: str,
        concurrency: int,
    ) -> None:
        self.handle = handle
        self.log = event_log
        self.topics = list(topics)
        self.group = group
        self.concurrency = concurrency
        self.ready = asyncio.Event()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish and commit what was fetched, then return from ``run``."""
        self._stopping.set()

    async def run(self) -> None:
        sub = self.log.subscribe(self.topics, group=self.group)
        await sub.start()
        self.ready.set()
        slots = asyncio.Semaphore(self.concurrency)
        pending: set[asyncio.Task[None]] = set()
        uncommitted = False
        try:
            while not self._stopping.is_set():
                records = await sub.fetch(max_records=self.concurrency, timeout_s=0.5)
                for rec in records:
                    await slots.acquire()
                    task = asyncio.create_task(self.handle(rec))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                    task.add_done_callback(lambda _t: slots.release())
                    task.add_done_callback(_report)
                uncommitted = uncommitted or bool(records)
                # Everything fetched must be finished before its offsets are committed;
                # fetching goes on meanwhile, so one slow request (a debug gate's pause)
                # holds a slot, never the partition (faust's agents commit the same way).
                if uncommitted and not pending:
                    await sub.commit()
                    uncommitted = False
            if pending:
                await asyncio.wait(set(pending))
            if uncommitted:
                await sub.commit()
        finally:
            for task in pending:
                task.cancel()
            await sub.stop()


def _report(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("record processing failed", exc_info=task.exception())
