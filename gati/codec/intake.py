"""Envelope intake: bytes off the log to what a consumer works with, in one place.

Every reader of the requests topic takes an envelope the same way: the schema-id frame
and the Avro record (``EnvelopeCodec``), a typed body back to the client's JSON
(``BodyCodecs``), then sealed values opened for a handler (``for_handler``) or masked
for the record (``json_body``, then ``for_record``). What cannot be read is parked on
the dead-letter topic with its reason (``DeadLetters``) and the partition moves on.

The consumers differ only in what an unreadable typed body means to them: the worker
answers it (500, or 503 while the schema store is down); the recorder dead-letters it,
and waits out a schema store that does not answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Protocol, TypeVar

from gati.codec.bodies import BodyCodecs
from gati.codec.envelopes import EnvelopeCodec, encode_dead_letter
from gati.codec.seal import Sealer, Sensitive, mask
from gati.core.envelopes import LifecycleEvent, Rejection, RequestEnvelope
from gati.core.ports import Clock, EventLog, LogRecord
from gati.core.redact import Masker
from gati.errors import BackendUnavailable, CodecError, RequestError, StoreError

log = logging.getLogger(__name__)
T = TypeVar("T")


class Intake:
    """Decodes, unseals and masks envelopes for one consumer.

    Args:
        codec: the envelope codec (frame and Avro record).
        bodies: decoders of typed bodies (the process's contracts, then the store).
        sensitive: which values are sensitive (headers, body fields).
        sealer: opens sealed values; ``None`` when no seal key is configured.
        masker: keys the record's mask tokens; default an unkeyed mask.
    """

    def __init__(self, *, codec: EnvelopeCodec | None = None, bodies: BodyCodecs | None = None,
                 sensitive: Sensitive | None = None, sealer: Sealer | None = None,
                 masker: Masker | None = None) -> None:
        self.codec = codec or EnvelopeCodec()
        self.bodies = bodies or BodyCodecs()
        self.sealer = sealer
        self.sensitive = sensitive or (sealer.sensitive if sealer is not None else Sensitive())
        self.masker = masker

    def request(self, data: bytes) -> RequestEnvelope:
        """A request envelope (its body as it travelled).

        Raises:
            CodecError: not a request envelope of a known schema.
        """
        return self.codec.decode_request(data)

    def request_or_events(self, data: bytes) -> RequestEnvelope | list[LifecycleEvent]:
        """What the recorder reads: a request envelope or a batch of lifecycle events.

        Raises:
            CodecError: neither.
        """
        return self.codec.decode_any(data)

    async def for_handler(self, env: RequestEnvelope) -> RequestEnvelope:
        """The envelope as the pipeline takes it: body as JSON, sealed values opened.

        Never raises: a body nobody can read, or a sealed value that does not open,
        becomes the envelope's rejection, which the pipeline answers.
        """
        if env.body_schema is not None:
            env = await self._answered_json_body(env)
        if self.sealer is not None:
            try:
                env = self.sealer.unseal(env)
            except RequestError as exc:
                env = replace(mask(env, self.sensitive),
                              rejection=Rejection(400, exc.code, exc.message))
        return env

    async def json_body(self, env: RequestEnvelope) -> RequestEnvelope:
        """``env`` with its typed body back as the client's JSON (unchanged if untyped).

        Raises:
            CodecError: the typed body cannot be decoded (dead-letter the message).
            StoreError: the schema store could not be read (try again later).
        """
        return await self.bodies.to_json(env)

    def for_record(self, env: RequestEnvelope) -> RequestEnvelope:
        """The envelope as the record keeps it: every sensitive value a mask token.

        Sealed values are opened first, so a token is the token of the value itself.
        """
        return mask(env, self.sensitive, self.masker, self.sealer)

    async def _answered_json_body(self, env: RequestEnvelope) -> RequestEnvelope:
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


class LogHealth(Protocol):
    """What dead-lettering tells about the log (``gati.observability.health.Health``)."""

    def degrade(self, dependency: str, why: str) -> None: ...

    def recover(self, dependency: str) -> None: ...


async def until_the_log_takes(call: Callable[[], Awaitable[T]], what: str,
                              health: LogHealth | None) -> T:
    """``call()`` again, with backoff, while the log is unavailable; health says so.

    For writes whose offset must wait until they are durable (outputs, dead letters)
    and reads that decide what to do with a record (the effect journal).
    """
    delay = 0.2
    while True:
        try:
            result = await call()
        except BackendUnavailable as exc:
            if health is not None:
                health.degrade("kafka", exc.message)
            log.warning("%s failed, retrying in %.1fs: %s", what, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        if delay > 0.2 and health is not None:
            health.recover("kafka")
        return result


class DeadLetters:
    """Parks what a consumer cannot use on the dead-letter topic, with the reason.

    A park is retried while the log refuses it, so the offset of the message waits
    until its dead letter is in the log; then the partition moves on.
    """

    def __init__(self, out: EventLog, topic: str, consumer: str, *, clock: Clock,
                 codec: EnvelopeCodec | None = None, health: LogHealth | None = None) -> None:
        self.out = out
        self.topic = topic
        self.consumer = consumer
        self.clock = clock
        self.codec = codec or EnvelopeCodec()
        self.health = health
        self.parked = 0

    async def park(self, rec: LogRecord, reason: str, *, consumer: str | None = None) -> None:
        """Dead-letter ``rec``; ``consumer`` names a part of this one (a subscriber)."""
        log.error("dead-lettering %s[%d]@%d: %s", rec.topic, rec.partition, rec.offset, reason)
        payload = encode_dead_letter(
            self.codec.codec, topic=rec.topic, partition=rec.partition, offset=rec.offset,
            consumer=consumer or self.consumer, reason=reason, at_us=self.clock.now_us(),
            key=rec.key, value=rec.value)
        await until_the_log_takes(
            lambda: self.out.send(self.topic, payload, key=rec.key), "dead-letter write",
            self.health)
        self.parked += 1
