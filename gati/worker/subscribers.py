"""Runs ``@app.subscribe(topic)`` consumers of global publications.

Delivery is at least once (the offset is committed after the consumer returns), so
consumers should be idempotent; ``event_id`` is stable across redeliveries. A consumer
that raises is logged and the event is dead-lettered, so one bad event cannot stall the
topic.
"""

from __future__ import annotations

import inspect
import json
import logging
from typing import Any

from gati.codec.envelopes import EnvelopeCodec, decode_event_message
from gati.codec.intake import DeadLetters
from gati.config import Settings
from gati.core.app import App
from gati.core.context import GlobalContext, Services
from gati.core.effects import LiveEffects
from gati.core.ports import Clock, EventLog, LogRecord
from gati.core.scope import RequestScope
from gati.errors import CodecError

log = logging.getLogger(__name__)


class SubscriberRunner:
    def __init__(self, app: App, settings: Settings, services: Services, out: EventLog, *,
                 clock: Clock, codec: EnvelopeCodec | None = None) -> None:
        self.app = app
        self.settings = settings
        self.services = services
        self.out = out
        self.clock = clock
        self.codec = codec or EnvelopeCodec()
        self.dead_letters = DeadLetters(out, settings.deadletter_topic, "subscriber",
                                        clock=clock, codec=self.codec)
        self.delivered = 0

    def topics(self) -> list[str]:
        return sorted({self.settings.events_topic(s.topic) for s in self.app.subscribers})

    async def handle(self, rec: LogRecord) -> None:
        try:
            event = decode_event_message(self.codec.codec, rec.value)
            payload: Any = json.loads(event["payload"])
        except (CodecError, ValueError) as exc:
            await self.dead_letters.park(rec, str(exc))
            return
        scope = RequestScope(event["event_id"], self.clock, self.services.redactor)
        effects = LiveEffects(scope)
        gctx = GlobalContext(self.services, scope, effects)
        for sub in self.app.subscribers:
            if sub.topic != event["topic"]:
                continue
            try:
                result = sub.func(payload, gctx)
                if inspect.isawaitable(result):
                    await result
                self.delivered += 1
            except Exception as exc:
                await self.dead_letters.park(rec, f"{type(exc).__name__}: {exc}",
                                             consumer=f"subscriber {sub.subscriber_id}")
