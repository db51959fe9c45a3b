"""The Kafka worker on a bare aiokafka group consumer (``GATI_WORKER_ENGINE=aiokafka``).

The same ``LogWorker`` loop that runs ``gati dev``, over ``KafkaLog``'s group
subscription, with what faust gave the worker made explicit: static membership and the
failover bounds (``GroupMembership``), revocation that waits for the requests in flight
and commits before the partition's next owner starts (faust's ``stream_wait_empty``),
the effect journal told of every assignment, and offsets committed at least every
``COMMIT_EVERY_S`` under a steady stream (faust's commit interval).

Why a second engine: on the same Processor and backlog faust costs 1.57x the worker CPU
per request and drains at 0.62x the rate (bench/results/2026-12-02-worker-engine.md):
its consumer runs in a thread of its own and hands every fetch back across threads.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition

from gati.config import Settings
from gati.core.app import App
from gati.core.observe import Metrics, Tracer
from gati.core.ports import LogRecord
from gati.errors import BackendUnavailable
from gati.log.kafka import GroupMembership, KafkaLog
from gati.observability.health import Health, HealthServer
from gati.worker.loop import LogWorker
from gati.worker.parts import WorkerParts
from gati.worker.processor import Processor

log = logging.getLogger(__name__)

COMMIT_EVERY_S = 0.5  # faust's broker_commit_interval, which the faust engine uses


def run_kafka_worker(
    app: App,
    settings: Settings,
    *,
    tracer: Tracer | None = None,
    metrics: Metrics | None = None,
    health: Health | None = None,
    health_server: HealthServer | None = None,
) -> None:
    """Run until SIGINT/SIGTERM; then finish and commit what was fetched, and close."""
    # aiokafka's debug records are built and thrown away otherwise: 8% of a worker's CPU.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    parts = WorkerParts(app, settings, tracer=tracer, metrics=metrics, health=health,
                        health_server=health_server)
    asyncio.run(_serve(parts))


async def _serve(parts: WorkerParts) -> None:
    settings = parts.settings
    try:
        processor, subscribers = await parts.prepare()
        workers = [_group_worker(parts.out, settings, processor.handle,
                                 [settings.requests_topic], processor=processor)]
        if subscribers.topics():
            workers.append(_group_worker(parts.out, settings, subscribers.handle,
                                         subscribers.topics(), suffix="-events"))
        def stop() -> None:
            for w in workers:
                w.stop()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        await asyncio.gather(*(w.run() for w in workers))
    finally:
        await parts.close()


def _group_worker(out: KafkaLog, settings: Settings,
                  handle: Callable[[LogRecord], Coroutine[Any, Any, None]],
                  topics: list[str], *,
                  processor: Processor | None = None, suffix: str = "") -> LogWorker:
    """A LogWorker on its own group consumer, whose rebalances wait for it."""
    instance = settings.effective_worker_instance_id()
    membership = GroupMembership(
        instance_id=f"{instance}{suffix}" if instance else None,
        session_timeout_s=settings.worker_session_timeout_s,
        heartbeat_interval_s=settings.worker_heartbeat_interval_s,
        # Above the longest handler timeout: a slow handler never looks like a dead member.
        max_poll_interval_s=max(300.0, settings.request_timeout_s * 2))
    listener = _Rebalance(settings.requests_topic, processor)
    worker = LogWorker(handle, out, topics=topics, group=settings.worker_group,
                       concurrency=settings.worker_concurrency, commit_every_s=COMMIT_EVERY_S,
                       subscription=out.subscribe(topics, group=settings.worker_group,
                                                  membership=membership, listener=listener))
    listener.worker = worker
    return worker


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Awaited by the consumer around each rebalance, before it fetches again."""

    def __init__(self, requests_topic: str, processor: Processor | None) -> None:
        self.requests_topic = requests_topic
        self.processor = processor
        self.worker: LogWorker | None = None

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # The next owner must not resume a request this worker is still running (the
        # journal would show half its steps): finish what is in flight, then commit.
        if self.worker is None:
            return
        try:
            await self.worker.settle()
        except BackendUnavailable as exc:
            log.warning("commit before the rebalance failed; the records since the last "
                        "commit will be delivered again: %s", exc.message)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if self.processor is not None:
            self.processor.partitions_assigned(
                {tp.partition for tp in assigned if tp.topic == self.requests_topic})
