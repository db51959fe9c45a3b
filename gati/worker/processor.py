"""One request from bytes to durable outputs, for any transport.

Lifecycle events, global publications and the reply go out in one acknowledged batch
before the input is considered done, so an input whose offset is committed always has
its record in the log; while the log does not acknowledge, the batch is retried and
the offset waits. Bytes that are not a RequestEnvelope, and envelopes whose reply topic
is not their gateway's, go to the dead-letter topic and the partition moves on.

A request delivered again after its worker died is looked up in the effect journal
(``gati.worker.journal``) first: answered ones are answered again from the record,
started ones resume with their journaled effects; neither is silently run twice.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any

from gati.codec.bodies import BodyCodecs
from gati.codec.envelopes import EnvelopeCodec, encode_event_message
from gati.codec.intake import DeadLetters, Intake, until_the_log_takes
from gati.codec.seal import Sealer
from gati.config import Settings, valid_name
from gati.core.effects import LiveEffects
from gati.core.envelopes import LifecycleEvent, RequestEnvelope, ResponseEnvelope, Stage
from gati.core.pipeline import Delivery, EffectsFactory, Outcome, Pipeline
from gati.core.ports import Clock, EventLog, LogRecord, OutMessage, TopicSpec
from gati.core.scope import to_jsonable
from gati.errors import CodecError
from gati.observability.health import Health
from gati.replay.ledger import Divergence, ReplayEffects
from gati.worker.journal import EffectJournal, PriorRun

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
        health: Health | None = None,
        journal_log: EventLog | None = None,
    ) -> None:
        """``journal_log``: where journal writes go, when not ``out`` (the Kafka worker
        gives them a producer that does not linger: each one is waited for)."""
        self.settings = settings
        self.health = health
        self.pipeline = pipeline
        self.out = out
        self.clock = clock
        self.codec = codec or EnvelopeCodec()
        self.intake = Intake(codec=self.codec, bodies=bodies, sealer=sealer)
        self.dead_letters = DeadLetters(out, settings.deadletter_topic, "worker", clock=clock,
                                        codec=self.codec, health=health)
        self.journal = (EffectJournal(journal_log or out, settings.lifecycle_topic, self.codec,
                                      health=health)
                        if settings.journal == "on" else None)
        # Parsed once: "off" prices the recording (replies only).
        self.records_lifecycle = settings.lifecycle == "on"
        self.processed = 0
        self.redelivered = 0
        self.resumed = 0
        self._declared: set[str] = set()
        # Requests this worker is running now, by id: a second delivery waits for them.
        self._running: dict[str, asyncio.Future[Outcome]] = {}

    def partitions_assigned(self, partitions: set[int]) -> None:
        """Called on every assignment of requests partitions to this worker."""
        if self.journal is not None:
            self.journal.partitions_assigned(partitions)

    async def handle(self, rec: LogRecord) -> None:
        try:
            env = self.intake.request(rec.value)
        except CodecError as exc:
            await self.dead_letters.park(rec, str(exc))
            return
        reply_topic = self._reply_topic(env)
        if reply_topic is None:
            await self.dead_letters.park(rec, (
                f"reply topic {env.reply_topic!r} (partition {env.reply_partition}) is not "
                f"the reply topic of gateway {env.gateway_id!r}"))
            return
        running = self._running.get(env.request_id)
        if running is not None:
            # A rebalance gave this worker back a request it is still running: let that
            # run finish, then answer the delivery from its outcome.
            finished = await asyncio.shield(running)
            await self._answer_again(env, rec, PriorRun.of(finished.events), reply_topic)
            return
        prior = await self._prior(rec, env.request_id)
        if prior is not None and prior.responded is not None:
            await self._answer_again(env, rec, prior, reply_topic)
            return
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._running[env.request_id] = done
        try:
            outcome = await self._run(rec, env, prior, reply_topic)
            done.set_result(outcome)
        finally:
            del self._running[env.request_id]
            if not done.done():
                done.cancel()

    async def _run(self, rec: LogRecord, env: RequestEnvelope, prior: PriorRun | None,
                   reply_topic: str) -> Outcome:
        env = await self.intake.for_handler(env)
        outcome = await self.pipeline.process(env, delivery=self._delivery(rec, prior))
        key = env.request_id.encode()
        messages = []
        if self.records_lifecycle:
            # One message per request with all its steps: a twentieth of the appends.
            messages.append(OutMessage(
                self.settings.lifecycle_topic,
                self.codec.encode_batch(env.request_id, outcome.undurable), key))
        messages.extend(await self._publications(outcome, key))
        messages.append(
            OutMessage(reply_topic, self.codec.encode_response(outcome.response), key, 0))
        await self._send(messages)
        self.processed += 1
        return outcome

    def _reply_topic(self, env: RequestEnvelope) -> str | None:
        """The reply topic of the envelope's gateway: derived, never taken from bytes."""
        if not valid_name(env.gateway_id) or env.reply_partition != 0:
            return None
        topic = self.settings.reply_topic(env.gateway_id)
        return topic if env.reply_topic == topic else None

    async def _prior(self, rec: LogRecord, request_id: str) -> PriorRun | None:
        if self.journal is None:
            return None
        # The offset must not move on before we know: wait for the log.
        journal = self.journal
        return await until_the_log_takes(lambda: journal.prior(rec, request_id),
                                         f"reading the journal of partition {rec.partition}",
                                         self.health)

    def _delivery(self, rec: LogRecord, prior: PriorRun | None) -> Delivery:
        appended = rec.timestamp_ms * 1000 if rec.timestamp_ms > 0 else None
        journal = self.journal
        if journal is None:
            return Delivery(appended_at_us=appended)
        if prior is None:
            return Delivery(appended_at_us=appended,
                            effects=lambda scope: LiveEffects(scope, journal=journal))
        self.resumed += 1
        steps, pending = prior.effects, prior.pending
        rid = prior.events[0].request_id

        def effects(scope: Any) -> ReplayEffects:
            def diverged(d: Divergence) -> None:
                log.error("request %s left its journal on resumption: %s", rid, d.message)

            live = LiveEffects(scope, journal=journal, made_calls=bool(steps))
            return ReplayEffects(scope, steps, then=live, pending=pending,
                                 on_divergence=diverged)

        resumed = {"after_seq": prior.last_seq, "journaled_effects": len(steps),
                   "in_progress": None if pending is None else pending.detail,
                   "workers": prior.workers, "partition": rec.partition,
                   "offset": rec.offset}
        factory: EffectsFactory = effects
        return Delivery(appended_at_us=appended, first_seq=prior.last_seq + 1,
                        resumed=resumed, effects=factory)

    async def _answer_again(self, env: RequestEnvelope, rec: LogRecord, prior: PriorRun,
                            reply_topic: str) -> None:
        """A request answered before its worker died: its recorded answer, once more."""
        responded = prior.responded
        assert responded is not None
        detail = json.loads(responded.detail) if responded.detail else {}
        response = ResponseEnvelope(
            request_id=env.request_id, status=responded.status or 500,
            headers=tuple((str(k), str(v)) for k, v in detail.get("headers", [])),
            body=base64.b64decode(detail.get("body_b64", "")),
            completed_at_us=responded.at_us, handler_id=responded.handler_id)
        note = LifecycleEvent(
            env.request_id, prior.last_seq + 1, Stage.REDELIVERED.value, self.clock.now_us(),
            handler_id=responded.handler_id, worker_id=self.pipeline.worker_id,
            detail=json.dumps({"answered_from": "record", "status": response.status,
                               "partition": rec.partition, "offset": rec.offset,
                               "workers": prior.workers}))
        key = env.request_id.encode()
        await self._send([
            OutMessage(self.settings.lifecycle_topic,
                       self.codec.encode_batch(env.request_id, [note]), key),
            OutMessage(reply_topic, self.codec.encode_response(response), key, 0),
        ])
        self.redelivered += 1

    async def _send(self, messages: list[OutMessage]) -> None:
        """Append the outputs; while the log refuses, retry (the offset waits)."""
        await until_the_log_takes(lambda: self.out.send_batch(messages), "sending outputs",
                                  self.health)

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

