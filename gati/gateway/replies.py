"""Waits for ResponseEnvelopes on this gateway's own reply topic.

The topic is read from its end at start, so replies addressed to a previous run of the
same gateway id (whose clients are gone) are skipped. Replies nobody waits for any more
(the client got a 504) are counted and dropped.
"""

from __future__ import annotations

import asyncio
import logging

from gati.codec.envelopes import EnvelopeCodec
from gati.core.envelopes import ResponseEnvelope
from gati.core.ports import EventLog, Subscription
from gati.errors import CodecError

log = logging.getLogger(__name__)


class ReplyWaiter:
    def __init__(self, event_log: EventLog, topic: str, codec: EnvelopeCodec) -> None:
        self.log = event_log
        self.topic = topic
        self.codec = codec
        self._waiting: dict[str, asyncio.Future[ResponseEnvelope]] = {}
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self.unclaimed = 0

    @property
    def in_flight(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        self._sub = self.log.subscribe([self.topic], group=None)
        await self._sub.start()
        self._task = asyncio.create_task(self._read(self._sub), name="gati-replies")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._sub is not None:
            await self._sub.stop()
        for fut in self._waiting.values():
            fut.cancel()
        self._waiting.clear()

    def expect(self, request_id: str) -> asyncio.Future[ResponseEnvelope]:
        fut: asyncio.Future[ResponseEnvelope] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = fut
        return fut

    def forget(self, request_id: str) -> None:
        self._waiting.pop(request_id, None)

    async def _read(self, sub: Subscription) -> None:
        while True:
            try:
                records = await sub.fetch(max_records=1000, timeout_s=0.5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker may be away; keep waiting for it
                log.warning("reply fetch failed: %r", exc)
                await asyncio.sleep(0.5)
                continue
            for rec in records:
                try:
                    reply = self.codec.decode_response(rec.value)
                except CodecError as exc:
                    log.error("undecodable reply at %s@%d: %s", rec.topic, rec.offset, exc)
                    continue
                fut = self._waiting.pop(reply.request_id, None)
                if fut is None or fut.done():
                    self.unclaimed += 1
                else:
                    fut.set_result(reply)
