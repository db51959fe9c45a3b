"""Gateway, worker and recorder in one process: the embedded log and SQLite.

The same Gateway, Processor and Recorder as in production, wired to ``MemoryLog``
instead of Kafka; only the transport differs, which is what lets one behaviour suite
run on both backends. Gateway and worker share one metrics registry, served on the
gateway's ``/metrics`` (and on ``GATI_METRICS_PORT`` when set); the pipeline's spans
go to ``GATI_OTLP_ENDPOINT`` when set.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import uvicorn

from gati.codec.seal import masker_for, new_key, sealer_for
from gati.config import Settings
from gati.core.app import App
from gati.gateway.asgi import Gateway
from gati.gateway.bodies import TypedBodies
from gati.log.memory import MemoryLog
from gati.observability import PrometheusMetrics, configure_tracing
from gati.recorder.recorder import Recorder
from gati.store.store import open_store
from gati.store.versions import VersionRegistry
from gati.worker.loop import LogWorker
from gati.worker.processor import Processor
from gati.worker.runtime import WorkerRuntime
from gati.worker.subscribers import SubscriberRunner


async def run_dev(
    app: App,
    settings: Settings,
    *,
    host: str,
    port: int,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    log = MemoryLog(auto_create_partitions=1)
    store = await open_store(settings.database_url, migrate_first=True)
    metrics = PrometheusMetrics()
    tracer = configure_tracing("gati-worker", settings.otlp_endpoint)
    metrics_server = metrics.serve(settings.metrics_port) if settings.metrics_port else None
    # One process: gateway, worker and recorder share a random key when none is set.
    one_key = None if settings.seal_key else new_key()
    masker = masker_for(settings.seal_key, one_key)
    runtime = WorkerRuntime(app, settings, tracer=tracer, metrics=metrics, masker=masker)
    pipeline = await runtime.start(VersionRegistry(store.engine))
    assert runtime.services is not None
    # One process: gateway and worker can share a random key when none is configured.
    sealer = sealer_for(settings.seal_key, settings.sensitive_headers,
                        settings.sensitive_fields, ephemeral=one_key)

    async def typed_bodies() -> TypedBodies:
        return TypedBodies(app, runtime.body_schema_ids)  # the worker stored them just now

    gateway = Gateway(settings, log, manage_log=False, metrics=metrics, sealer=sealer,
                      typed_bodies=typed_bodies)
    processor = Processor(settings, pipeline, log, clock=runtime.clock, sealer=sealer,
                          bodies=runtime.bodies)
    worker = LogWorker(
        processor.handle,
        log,
        topics=[settings.requests_topic],
        group=settings.worker_group,
        concurrency=settings.worker_concurrency,
    )
    subscribers = SubscriberRunner(app, settings, runtime.services, log, clock=runtime.clock)
    consumers = [worker]
    if subscribers.topics():
        consumers.append(
            LogWorker(
                subscribers.handle,
                log,
                topics=subscribers.topics(),
                group=settings.subscribers_group,
                concurrency=settings.worker_concurrency,
            )
        )
    recorder = Recorder(settings, log, store, masker=masker, sealer=sealer,
                        bodies=runtime.bodies)
    server = uvicorn.Server(
        uvicorn.Config(
            gateway,
            http="httptools",
            host=host,
            port=port,
            lifespan="on",
            log_level="warning",
            access_log=False,
        )
    )
    tasks = [
        asyncio.create_task(recorder.run(), name="recorder"),
        *(asyncio.create_task(c.run(), name=f"consumer-{i}") for i, c in enumerate(consumers)),
    ]
    serve = asyncio.create_task(server.serve(), name="gateway")
    try:
        while not server.started:
            if serve.done():
                await serve  # surfaces the bind error
                return
            await asyncio.sleep(0.05)
        for consumer in consumers:
            await consumer.ready.wait()
        await recorder.ready.wait()
        if on_ready is not None:
            on_ready(f"http://{host}:{port}")
        done, _ = await asyncio.wait([serve, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not serve:
                task.result()  # a crashed worker or recorder ends dev loudly
    finally:
        # Stop intake first, then let worker and recorder finish what they hold, so no
        # database transaction is cut in half.
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(asyncio.shield(serve), 5)
        for consumer in consumers:
            consumer.stop()
        recorder.stop()
        _, late = await asyncio.wait(tasks, timeout=10)
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runtime.close()
        await store.close()
        if metrics_server is not None:
            metrics_server.close()
        await asyncio.to_thread(tracer.shutdown)  # flushes the last batch over HTTP
