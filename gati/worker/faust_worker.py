"""The Kafka worker: a faust-streaming app whose agent consumes the requests topic.

Faust owns the consumer group, partition assignment and offset commits (an event's
offset is committed only after the agent has finished with it, so delivery is at least
once). Outputs go through Gati's own idempotent producer (``KafkaLog``) and are
acknowledged before the agent takes the next event. Gati declares its topics itself
before faust starts, with the partition counts it wants.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from typing import Any

import faust

from gati.codec.seal import sealer_for
from gati.config import Settings
from gati.core.app import App
from gati.core.observe import Metrics, Tracer
from gati.core.ports import LogRecord, TopicSpec
from gati.log.kafka import KafkaLog
from gati.store.store import create_engine
from gati.store.versions import VersionRegistry
from gati.worker.processor import Processor
from gati.worker.runtime import WorkerRuntime
from gati.worker.subscribers import SubscriberRunner

log = logging.getLogger(__name__)


def worker_topics(settings: Settings) -> list[TopicSpec]:
    return [
        TopicSpec(settings.requests_topic, settings.requests_partitions),
        TopicSpec(settings.lifecycle_topic, settings.requests_partitions),
        TopicSpec(settings.deadletter_topic, 1),
    ]


def build_faust_app(settings: Settings, processor: Processor, subscribers: SubscriberRunner) -> Any:
    # Poll interval above the longest handler timeout, so a slow handler never looks
    # like a dead consumer and triggers a rebalance.
    poll_s = max(300.0, settings.request_timeout_s * 2)
    fapp = faust.App(
        settings.worker_group,
        broker=f"kafka://{settings.kafka_bootstrap}",
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        web_enabled=False,
        topic_disable_leader=True,
        topic_allow_declare=False,
        topic_replication_factor=1,
        topic_partitions=settings.requests_partitions,
        consumer_auto_offset_reset="earliest",
        broker_max_poll_interval=poll_s,
        broker_commit_every=100,
        broker_commit_interval=0.5,
        datadir=tempfile.mkdtemp(prefix="gati-faust-"),
        stream_wait_empty=False,
    )
    source = fapp.topic(settings.requests_topic, value_serializer="raw", key_serializer="raw")

    @fapp.agent(source, concurrency=settings.worker_concurrency)
    async def handle_requests(stream: Any) -> None:
        async for event in stream.events():
            await processor.handle(_record(event.message))

    for topic in subscribers.topics():
        events = fapp.topic(topic, value_serializer="raw", key_serializer="raw")

        async def handle_events(stream: Any) -> None:
            async for event in stream.events():
                await subscribers.handle(_record(event.message))

        fapp.agent(events, name=f"subscribers-{topic}")(handle_events)
    return fapp


def _record(msg: Any) -> LogRecord:
    return LogRecord(
        msg.topic,
        msg.partition,
        msg.offset,
        msg.key,
        msg.value or b"",
        int((msg.timestamp or 0) * 1000),
    )


def run_faust_worker(
    app: App,
    settings: Settings,
    *,
    loglevel: str = "warn",
    tracer: Tracer | None = None,
    metrics: Metrics | None = None,
) -> None:
    """Run until SIGINT/SIGTERM. Blocks; owns the event loop like ``faust worker``.

    ``tracer`` and ``metrics`` go to the pipeline (no-ops when not given).
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    out = KafkaLog(settings.kafka_bootstrap, client_id=settings.effective_worker_id(),
                   linger_ms=2)
    runtime = WorkerRuntime(app, settings, tracer=tracer, metrics=metrics)

    async def prepare() -> tuple[Processor, SubscriberRunner]:
        await out.start()
        try:
            pipeline = await runtime.start(VersionRegistry(create_engine(settings.database_url)))
            assert runtime.services is not None
            subs = SubscriberRunner(app, settings, runtime.services, out, clock=runtime.clock)
            await out.ensure_topics(
                worker_topics(settings) + [TopicSpec(t, 1) for t in subs.topics()]
            )
        except BaseException:
            await out.stop()
            raise
        sealer = sealer_for(settings.seal_key, settings.sensitive_headers,
                            settings.sensitive_fields)
        return Processor(settings, pipeline, out, clock=runtime.clock, sealer=sealer,
                         bodies=runtime.bodies), subs

    processor, subscribers = loop.run_until_complete(prepare())
    fapp = build_faust_app(settings, processor, subscribers)
    worker = faust.Worker(fapp, loop=loop, loglevel=loglevel, quiet=True)
    # aiokafka built debug records that were then thrown away: 8% of the worker's CPU.
    # A level on its own logger holds whatever level faust gives the root logger.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    try:
        worker.execute_from_commandline()
    finally:
        if not loop.is_closed():
            loop.run_until_complete(runtime.close())
            loop.run_until_complete(out.stop())
