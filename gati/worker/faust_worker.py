"""The Kafka worker: a faust-streaming app whose agent consumes the requests topic.

Faust owns the consumer group, partition assignment and offset commits (an event's
offset is committed only after the agent has finished with it, so delivery is at least
once). Outputs go through Gati's own idempotent producer (``KafkaLog``) and are
acknowledged before the agent takes the next event. Gati declares its topics itself
before faust starts, with the partition counts it wants.

Failover is bounded by ``GATI_WORKER_SESSION_TIMEOUT_S``: a worker that stops
heartbeating loses its partitions that long after its last heartbeat, and the broker's
rebalance waits for no member longer than that. A worker with a stable id
(``GATI_WORKER_ID``) is a static group member: restarted under the same id it takes its
partitions back without a rebalance, so the other workers never stop for its restart.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from gati.config import Settings
from gati.core.app import App
from gati.core.observe import Metrics, Tracer
from gati.core.ports import LogRecord
from gati.observability.health import Health, HealthServer
from gati.worker.parts import WorkerParts
from gati.worker.processor import Processor
from gati.worker.subscribers import SubscriberRunner

log = logging.getLogger(__name__)

PartitionsHook = Callable[[set[int]], Awaitable[None] | None]
"""Called with requests-topic partition numbers; may return an awaitable."""


def build_faust_app(
    settings: Settings,
    processor: Processor,
    subscribers: SubscriberRunner,
    *,
    on_assigned: PartitionsHook | None = None,
    on_revoked: PartitionsHook | None = None,
) -> Any:
    """The faust app of one worker.

    ``on_assigned`` is called on every assignment to this worker (each rebalance it takes
    part in, including the first and an empty one) with all the requests-topic
    partitions it now owns (faust's ``on_partitions_assigned`` signal). A hook that
    returns without awaiting runs before any event of the new assignment reaches the
    agent; an awaitable it returns is awaited, but events may flow meanwhile.
    ``on_revoked`` is called with the requests-topic partitions taken away at the start
    of a rebalance (the whole previous assignment: rebalancing is eager). Both run on
    the worker's event loop while the rebalance waits for them, so keep them short.
    """
    fapp = _faust_app(settings)
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

    _connect(fapp.on_partitions_assigned, on_assigned, settings.requests_topic)
    _connect(fapp.on_partitions_revoked, on_revoked, settings.requests_topic)
    return fapp


def _faust_app(settings: Settings) -> faust.App:
    """The faust app's settings: Gati's own topics, group and failover bounds."""
    # Poll interval above the longest handler timeout, so a slow handler never looks
    # like a dead consumer and triggers a rebalance.
    poll_s = max(300.0, settings.request_timeout_s * 2)
    session_s = settings.worker_session_timeout_s
    return faust.App(
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
        broker_session_timeout=session_s,
        broker_heartbeat_interval=settings.worker_heartbeat_interval_s,
        # How long the broker waits for live members to rejoin a rebalance; a member
        # that does not is dropped. Faust's 60 s let one restart freeze every partition.
        broker_rebalance_timeout=session_s,
        broker_request_timeout=max(90.0, session_s + 10),
        consumer_group_instance_id=settings.effective_worker_instance_id(),
        broker_client_id=settings.effective_worker_id(),
        broker_commit_every=100,
        broker_commit_interval=0.5,
        datadir=tempfile.mkdtemp(prefix="gati-faust-"),
        # Revocation waits for in-flight requests: the next owner of a partition must
        # not resume a request this worker is still running (the effect journal would
        # see half its steps). Handlers are short; the rebalance waits for them.
        stream_wait_empty=True,
    )


def _connect(signal: Any, hook: PartitionsHook | None, requests_topic: str) -> None:
    """Call ``hook`` with the requests-topic partitions each time ``signal`` fires."""
    if hook is None:
        return

    async def receiver(sender: Any, tps: Any, **kwargs: Any) -> None:
        result = hook({tp.partition for tp in tps if tp.topic == requests_topic})
        if inspect.isawaitable(result):
            await result

    # Strong reference: the receiver lives as long as the app.
    signal.connect(receiver, weak=False)


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
    health: Health | None = None,
    health_server: HealthServer | None = None,
) -> None:
    """Run until SIGINT/SIGTERM. Blocks; owns the event loop like ``faust worker``.

    ``tracer`` and ``metrics`` go to the pipeline (no-ops when not given); ``health``
    says "degraded" while the log refuses the worker's outputs or journal reads, and
    ``health_server`` (started on this loop, on ``GATI_METRICS_PORT``) serves it.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    parts = WorkerParts(app, settings, tracer=tracer, metrics=metrics, health=health,
                        health_server=health_server)
    processor, subscribers = loop.run_until_complete(parts.prepare())
    # getattr: the processor gains these hooks independently of this module.
    fapp = build_faust_app(settings, processor, subscribers,
                           on_assigned=getattr(processor, "partitions_assigned", None),
                           on_revoked=getattr(processor, "partitions_revoked", None))
    worker = _Worker(fapp, loop=loop, loglevel=loglevel, quiet=True, after_stop=parts.close)
    # aiokafka built debug records that were then thrown away: 8% of the worker's CPU.
    # A level on its own logger holds whatever level faust gives the root logger.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    try:
        worker.execute_from_commandline()
    finally:
        if not loop.is_closed():
            loop.run_until_complete(parts.close())


class _Worker(faust.Worker):
    """A faust worker that closes Gati's resources once the app has stopped.

    ``execute_from_commandline`` closes the event loop before it returns, so anything
    still open then (Gati's producer, the store's engines) could only be reclaimed by the
    garbage collector, which is what logged ``Unclosed AIOKafkaProducer`` on SIGTERM.
    ``on_shutdown`` runs after the app and its agents have stopped and while the loop
    still runs.
    """

    def __init__(self, *args: Any, after_stop: Callable[[], Awaitable[None]],
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._after_stop = after_stop

    async def on_shutdown(self) -> None:
        try:
            await super().on_shutdown()
        finally:
            await self._after_stop()
