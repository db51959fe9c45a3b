"""One request from bytes to durable outputs, for any transport.

Lifecycle events and the reply go out in one acknowledged batch before the input is
considered done, so an input whose offset is committed always has its record in the log.
Bytes that are not a RequestEnvelope go to the dead-letter topic and the partition
moves on.
"""

from __future__ import annotations

import logging

from gati.codec.envelopes import EnvelopeCodec, encode_dead_letter
from gati.config import Settings
from gati.core.pipeline import Pipeline
from gati.core.ports import Clock, EventLog, LogRecord, OutMessage
from gati.errors import CodecError

log = logging.getLogger(__name__)


class Processor:
    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        out: EventLog,
        *,
        clock: Clock,
        codec: EnvelopeCodec | None = None,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.out = out
        self.clock = clock
        self.codec = codec or EnvelopeCodec()
        self.processed = 0

    async def handle(self, rec: LogRecord) -> None:
        try:
            env = self.codec.decode_request(rec.value)
        except CodecError as exc:
            log.error("dead-lettering %s[%d]@%d: %s", rec.topic, rec.partition, rec.offset, exc)
            await self.out.send(
                self.settings.deadletter_topic,
                encode_dead_letter(
                    self.codec.codec,
                    topic=rec.topic,
                    partition=rec.partition,
                    offset=rec.offset,
                    consumer="worker",
                    reason=str(exc),
                    at_us=self.clock.now_us(),
                    key=rec.key,
                    value=rec.value,
                ),
                key=rec.key,
            )
            return
        outcome = await self.pipeline.process(env)
        key = env.request_id.encode()
        messages = (
            [
                OutMessage(self.settings.lifecycle_topic, self.codec.encode_event(ev), key)
                for ev in outcome.events
            ]
            if self.settings.lifecycle == "on"
            else []
        )
        messages.append(
            OutMessage(
                env.reply_topic,
                self.codec.encode_response(outcome.response),
                key,
                env.reply_partition,
            )
        )
        await self.out.send_batch(messages)
        self.processed += 1
