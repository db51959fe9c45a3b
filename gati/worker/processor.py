"""One request from bytes to durable outputs, for any transport.

Lifecycle events, global publications and the reply go out in one acknowledged batch
before the input is considered done, so an input whose offset is committed always has
its record in the log. Bytes that are not a RequestEnvelope go to the dead-letter topic
and the partition moves on.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Protocol

from gati.codec.bodies import BodyCodecs
from gati.codec.envelopes import EnvelopeCodec, encode_dead_letter, encode_event_message
from gati.codec.seal import Sealer, mask
from gati.config import Settings
from gati.core.envelopes import Rejection, RequestEnvelope
from gati.core.pipeline import Outcome, Pipeline
from gati.core.ports import Clock, EventLog, LogRecord, OutMessage, TopicSpec
from gati.core.scope import to_jsonable
from gati.errors import CodecError, RequestError, StoreError

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
        sealer: Sealer | None = None,
        bodies: BodyCodecs | None = None,
    ) -> None:
        self.settings = settings
        self.bodies = bodies or BodyCodecs()
        self.sealer = sealer
        self.pipeline = pipeline
        self.out = out
        self.clock = clock
        self.codec = codec or EnvelopeCodec()
        self.processed = 0
        self._declared: set[str] = set()

    async def handle(self, rec: LogRecord) -> None:
        try:
            env = self.codec.decode_request(rec.value)
        except CodecError as exc:
            await dead_letter(self, rec, "worker", str(exc))
            return
        if env.body_schema is not None:
            env = await self._json_body(env)
        if self.sealer is not None:
            try:
                env = self.sealer.unseal(env)
            except RequestError as exc:
                env = replace(mask(env, self.sealer.sensitive),
                              rejection=Rejection(400, exc.code, exc.message))
        outcome = await self.pipeline.process(env)
        key = env.request_id.encode()
        messages = []
        if self.settings.lifecycle == "on":
            # One message per request with all its steps: a twentieth of the appends.
            messages.append(OutMessage(
                self.settings.lifecycle_topic,
                self.codec.encode_batch(env.request_id, outcome.events), key))
        messages.extend(await self._publications(outcome, key))
        messages.append(
            OutMessage(env.reply_topic, self.codec.encode_response(outcome.response), key,
                       env.reply_partition)
        )
        await self.out.send_batch(messages)
        self.processed += 1

    async def _json_body(self, env: RequestEnvelope) -> RequestEnvelope:
        """A typed body back as the client's JSON; a body nobody can read is answered."""
        try:
            return await self.bodies.to_json(env)
        except StoreError as exc:
            rejection = Rejection(503, "schema_store_unavailable",
                                  f"body schema {env.body_schema} could not be looked up: "
                                  f"{exc.message}")
        except CodecError as exc:
            rejection = Rejection(500, exc.code, exc.message)
        log.error("request %s: %s", env.request_id, rejection.message)
        return replace(env, body=b"", body_schema=None, rejection=rejection)

    async def _publications(self, outcome: Outcome, key: bytes) -> list[OutMessage]:
        if not outcome.publications:
            return []
        redactor = self.pipeline.services.redactor
        topics = {self.settings.events_topic(p.topic) for p in outcome.publications}
        new = topics - self._declared
        if new:
            await self.out.ensure_topics([TopicSpec(t, 1) for t in sorted(new)])
            self._declared |= new
        out = []
        rid = outcome.response.request_id
        for n, pub in enumerate(outcome.publications):
            payload = json.dumps(to_jsonable(pub.payload), separators=(",", ":"))
            if redactor.active:
                payload = redactor.scrub(payload)
            value = encode_event_message(
                self.codec.codec, event_id=f"{rid}:{n}", topic=pub.topic, request_id=rid,
                at_us=self.clock.now_us(), payload=payload,
            )
            out.append(OutMessage(self.settings.events_topic(pub.topic), value, key))
        return out


class _HasOut(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def out(self) -> EventLog: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def codec(self) -> EnvelopeCodec: ...


async def dead_letter(owner: _HasOut, rec: LogRecord, consumer: str, reason: str) -> None:
    """Park an unusable message with its reason; its partition moves on."""
    log.error("dead-lettering %s[%d]@%d: %s", rec.topic, rec.partition, rec.offset, reason)
    await owner.out.send(
        owner.settings.deadletter_topic,
        encode_dead_letter(
            owner.codec.codec, topic=rec.topic, partition=rec.partition, offset=rec.offset,
            consumer=consumer, reason=reason, at_us=owner.clock.now_us(), key=rec.key,
            value=rec.value,
        ),
        key=rec.key,
    )
