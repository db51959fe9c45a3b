"""A worker loop over the ``EventLog`` port: the embedded backend's worker.

Records are handled concurrently up to ``worker_concurrency``; the group offset is
committed only up to the oldest record not yet finished, so a crash re-delivers
unfinished work rather than losing it.
"""

from __future__ import annotations

import asyncio
import logging

from gati.core.ports import EventLog
from gati.worker.processor import Processor

log = logging.getLogger(__name__)


class LogWorker:
    def __init__(self, processor: Processor, event_log: EventLog) -> None:
        self.processor = processor
        self.log = event_log
        self.ready = asyncio.Event()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish and commit what was fetched, then return from ``run``."""
        self._stopping.set()

    async def run(self) -> None:
        s = self.processor.settings
        sub = self.log.subscribe([s.requests_topic], group=s.worker_group)
        await sub.start()
        self.ready.set()
        slots = asyncio.Semaphore(s.worker_concurrency)
        pending: set[asyncio.Task[None]] = set()
        try:
            while not self._stopping.is_set():
                records = await sub.fetch(max_records=s.worker_concurrency, timeout_s=0.5)
                for rec in records:
                    await slots.acquire()
                    task = asyncio.create_task(self.processor.handle(rec))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                    task.add_done_callback(lambda _t: slots.release())
                    task.add_done_callback(_report)
                if records:
                    # Everything fetched must be finished before its offsets are committed.
                    if pending:
                        await asyncio.wait(set(pending))
                    await sub.commit()
        finally:
            for task in pending:
                task.cancel()
            await sub.stop()


def _report(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("request processing failed", exc_info=task.exception())
