"""gctx.publish reaches @app.subscribe consumers through the log, secrets masked."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from gati import App, GlobalContext, LocalContext, Request, Response
from gati.codec.envelopes import EnvelopeCodec
from gati.config import Settings
from gati.core.envelopes import RequestEnvelope
from gati.core.ports import LogRecord, SystemClock
from gati.log.memory import MemoryLog
from gati.worker.loop import LogWorker
from gati.worker.processor import Processor
from gati.worker.runtime import WorkerRuntime
from gati.worker.subscribers import SubscriberRunner


async def test_a_publication_is_delivered_to_its_subscribers_once() -> None:
    app = App("events")
    got: list[Any] = []
    arrived = asyncio.Event()

    @app.post("/orders")
    async def place(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        key = gctx.secrets.get("PSP_KEY").reveal()
        await gctx.publish("order.placed", {"order": 7, "psp": key})
        res.status(201).json({"order": 7})

    @app.subscribe("order.placed")
    async def on_placed(payload: Any, gctx: GlobalContext) -> None:
        got.append(payload)
        arrived.set()

    @app.subscribe("order.shipped")
    def never(payload: Any, gctx: GlobalContext) -> None:
        got.append(("wrong topic", payload))

    settings = Settings(topic_prefix="t", worker_id="w")
    log = MemoryLog()
    runtime = WorkerRuntime(app, settings, sources=[_Env({"PSP_KEY": "psp-secret-value"})])
    pipeline = await runtime.start()
    assert runtime.services is not None
    processor = Processor(settings, pipeline, log, clock=SystemClock())
    subscribers = SubscriberRunner(app, settings, runtime.services, log, clock=SystemClock())
    consumer = LogWorker(
        subscribers.handle,
        log,
        topics=subscribers.topics(),
        group=settings.subscribers_group,
        concurrency=4,
    )
    task = asyncio.create_task(consumer.run())
    await consumer.ready.wait()

    now = SystemClock().now_us()
    env = RequestEnvelope(
        "r1", "g", "t.replies.g", 0, now, now + 5_000_000, "POST", "/orders", "", (), b""
    )
    codec = EnvelopeCodec()
    await processor.handle(LogRecord("t.requests", 0, 0, b"r1", codec.encode_request(env), 0))

    await asyncio.wait_for(arrived.wait(), 5)
    consumer.stop()
    await task
    await runtime.close()
    assert got == [{"order": 7, "psp": got[0]["psp"]}]
    assert got[0]["psp"].startswith("[REDACTED")  # the event on the log carries no secret
    raw = b"".join(r.value for p in log.topics["t.events.order.placed"].partitions for r in p)
    assert b"psp-secret-value" not in raw
    assert json.loads(json.dumps(got[0]))["order"] == 7


class _Env:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def lookup(self, name: str) -> str | None:
        return self.values.get(name)
