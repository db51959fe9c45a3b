"""A consumer loop over the ``EventLog`` port: the embedded backend's worker.

Records are handled concurrently up to ``concurrency``; the group offset is committed
only once everything fetched has finished, so a crash re-delivers unfinished work rather
than losing it. Fetching does not wait for that: a request that takes long holds one
slot while the others keep flowing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from gati.core.ports import EventLog, LogRecord, Subscription

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
        commit_every_s: float | None = None,
        subscription: Subscription | None = None,
    ) -> None:
        """``commit_every_s``: under a steady stream nothing fetched may ever be idle, so
        at most this long after the first uncommitted record fetching pauses until what
        is in flight finishes, and the offsets are committed (None: only when idle).
        ``subscription``: one made by the caller (e.g. with a rebalance listener that
        calls ``settle``), instead of ``event_log.subscribe(topics, group=group)``."""
        self.handle = handle
        self.log = event_log
        self.topics = list(topics)
        self.group = group
        self.concurrency = concurrency
        self.commit_every_s = commit_every_s
        self.ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._sub = subscription
        self._pending: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._uncommitted_since: float | None = None

    def stop(self) -> None:
        """Finish and commit what was fetched, then return from ``run``."""
        self._stopping.set()

    async def settle(self) -> None:
        """Wait until nothing fetched is in flight, then commit: what a partition's next
        owner must find before it starts (the rebalance listener awaits this)."""
        await self._idle.wait()
        await self._commit()

    async def run(self) -> None:
        sub = self._sub or self.log.subscribe(self.topics, group=self.group)
        self._sub = sub
        await sub.start()
        self.ready.set()
        slots = asyncio.Semaphore(self.concurrency)
        try:
            while not self._stopping.is_set():
                if self._commit_due():
                    await self.settle()
                records = await sub.fetch(max_records=self.concurrency, timeout_s=0.5)
                for rec in records:
                    await slots.acquire()
                    self._start(rec, slots)
                if records and self._uncommitted_since is None:
                    self._uncommitted_since = time.monotonic()
                # Everything fetched must be finished before its offsets are committed;
                # fetching goes on meanwhile, so one slow request (a debug gate's pause)
                # holds a slot, never the partition (faust's agents commit the same way).
                if self.commit_every_s is None and self._idle.is_set():
                    await self._commit()
            await self.settle()
        finally:
            for task in self._pending:
                task.cancel()
            await sub.stop()

    def _start(self, rec: LogRecord, slots: asyncio.Semaphore) -> None:
        task = asyncio.create_task(self.handle(rec))
        self._pending.add(task)
        self._idle.clear()
        task.add_done_callback(lambda t: self._done(t, slots))

    def _done(self, task: asyncio.Task[None], slots: asyncio.Semaphore) -> None:
        self._pending.discard(task)
        slots.release()
        if not self._pending:
            self._idle.set()
        _report(task)

    def _commit_due(self) -> bool:
        since, every = self._uncommitted_since, self.commit_every_s
        return since is not None and every is not None and time.monotonic() - since >= every

    async def _commit(self) -> None:
        if self._uncommitted_since is not None and self._sub is not None:
            self._uncommitted_since = None
            await self._sub.commit()


def _report(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("record processing failed", exc_info=task.exception())
