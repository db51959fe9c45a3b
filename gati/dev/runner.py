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
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn

from gati.config import Settings
from gati.core.app import App
from gati.core.gates import DebugGates
from gati.gateway.asgi import Gateway
from gati.gateway.auth import Authenticator
from gati.gateway.bodies import TypedBodies
from gati.gateway.idempotency import IdempotencyKeys
from gati.gateway.ratelimit import RateLimits, SqlCounters
from gati.gateway.server import guarded_http
from gati.log.memory import MemoryLog
from gati.observability import PrometheusMetrics, configure_tracing
from gati.observability.tracing import OtelTracer
from gati.recorder.recorder import Recorder
from gati.store.store import Store
from gati.store.versions import VersionRegistry
from gati.wiring import Security, open_store
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
    """Serve ``app`` on ``host:port`` until cancelled; ``on_ready`` gets its URL."""
    store = await open_store(settings, migrate_first=True)
    metrics = PrometheusMetrics()
    tracer = configure_tracing("gati-worker", settings.otlp_endpoint)
    metrics_server = metrics.serve(settings.metrics_port) if settings.metrics_port else None
    # One process: gateway, worker and recorder share a random key when none is set.
    security = Security.from_settings(settings, one_process=True)
    runtime = WorkerRuntime(app, settings, tracer=tracer, metrics=metrics, security=security)

    def ready() -> None:
        if on_ready is not None:
            on_ready(f"http://{host}:{port}")

    try:
        dev = await _build(app, settings, store, runtime, security, metrics)
        await _serve(dev, _server(_described(app, store, settings, _with_playground(
            dev, app, store, settings, host)), host, port, settings.header_timeout_s), ready)
    finally:
        await runtime.close()
        await store.close()
        if metrics_server is not None:
            metrics_server.close()
        await _flush(tracer)


@dataclass(slots=True)
class _Dev:
    """What one dev process runs: the gateway, the consumers and the recorder."""

    gateway: Gateway
    consumers: list[LogWorker]
    recorder: Recorder
    gates: DebugGates  # the worker's debug gates, steered from the playground


async def _build(app: App, settings: Settings, store: Store, runtime: WorkerRuntime,
                 security: Security, metrics: PrometheusMetrics) -> _Dev:
    log = MemoryLog(auto_create_partitions=1)
    pipeline = await runtime.start(VersionRegistry(store.engine))
    runtime.reload_on_signal()  # SIGHUP reloads the app's modules, as in gati worker
    assert runtime.services is not None
    pipeline.gates = gates = DebugGates()

    async def typed_bodies() -> TypedBodies:
        return TypedBodies(app, runtime.body_schema_ids)  # the worker stored them just now

    gateway = Gateway(settings, log, manage_log=False, metrics=metrics, sealer=security.sealer,
                      typed_bodies=typed_bodies, authenticator=Authenticator(app.auth),
                      idempotency=IdempotencyKeys(store.engine,
                                                  ttl_s=settings.idempotency_ttl_s),
                      rate_limits=RateLimits(SqlCounters(store.engine), app),
                      tracer=runtime.tracer if isinstance(runtime.tracer, OtelTracer) else None)
    processor = Processor(settings, pipeline, log, clock=runtime.clock, sealer=security.sealer,
                          bodies=runtime.bodies)
    consumers = [LogWorker(processor.handle, log, topics=[settings.requests_topic],
                           group=settings.worker_group,
                           concurrency=settings.worker_concurrency)]
    subscribers = SubscriberRunner(app, settings, runtime.services, log, clock=runtime.clock)
    if subscribers.topics():
        consumers.append(LogWorker(subscribers.handle, log, topics=subscribers.topics(),
                                   group=settings.subscribers_group,
                                   concurrency=settings.worker_concurrency))
    recorder = Recorder(settings, log, store, security=security, bodies=runtime.bodies)
    return _Dev(gateway, consumers, recorder, gates)


def _with_playground(dev: _Dev, app: App, store: Store, settings: Settings,
                     host: str) -> Any:
    """The gateway with the playground under /_gati/playground/ on the same port (left
    out when dev listens beyond loopback without GATI_PLAYGROUND_TOKEN)."""
    from gati.playground import Playground, PlaygroundServer
    from gati.playground.mount import Mounted, can_mount

    token = os.environ.get("GATI_PLAYGROUND_TOKEN") or None
    if not can_mount(host, token):
        return dev.gateway
    playground = Playground(store, app=app, settings=settings, gates=dev.gates)
    return Mounted(dev.gateway, PlaygroundServer(playground, token=token))


def _server(gateway: Any, host: str, port: int, header_timeout_s: float) -> uvicorn.Server:
    # The gateway server's header deadline: slow clients are cut off here too.
    return uvicorn.Server(uvicorn.Config(
        gateway, http=guarded_http(header_timeout_s), host=host, port=port, lifespan="on",
        log_level="warning", access_log=False))


async def _serve(dev: _Dev, server: uvicorn.Server, ready: Callable[[], None]) -> None:
    """Run everything until the gateway stops or a worker or the recorder fails."""
    tasks = [
        asyncio.create_task(dev.recorder.run(), name="recorder"),
        *(asyncio.create_task(c.run(), name=f"consumer-{i}")
          for i, c in enumerate(dev.consumers)),
    ]
    serve = asyncio.create_task(server.serve(), name="gateway")
    try:
        if not await _started(dev, server, serve):
            return
        ready()
        done, _ = await asyncio.wait([serve, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not serve:
                task.result()  # a crashed worker or recorder ends dev loudly
    finally:
        await _stop(dev, server, serve, tasks)


async def _started(dev: _Dev, server: uvicorn.Server, serve: asyncio.Task[None]) -> bool:
    """Wait for the gateway to listen and the consumers to be ready; False if it stopped."""
    while not server.started:
        if serve.done():
            await serve  # surfaces the bind error
            return False
        await asyncio.sleep(0.05)
    for consumer in dev.consumers:
        await consumer.ready.wait()
    await dev.recorder.ready.wait()
    return True


async def _stop(dev: _Dev, server: uvicorn.Server, serve: asyncio.Task[None],
                tasks: list[asyncio.Task[None]]) -> None:
    """Stop intake first, then let worker and recorder finish what they hold, so no
    database transaction is cut in half."""
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(asyncio.shield(serve), 5)
    for consumer in dev.consumers:
        consumer.stop()
    dev.recorder.stop()
    _, late = await asyncio.wait(tasks, timeout=10)
    for task in late:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _flush(tracer: OtelTracer) -> None:
    await asyncio.to_thread(tracer.shutdown)  # flushes the last batch over HTTP


def _described(app: App, store: Store, settings: Settings, served: Any) -> Any:
    """``served`` with the app's /openapi.json and /docs, and the schema registry under
    /_gati/registry (docs/registry.md), as a deployment serves them."""
    from gati.apidocs import SelfDescribed
    from gati.manifest import build_manifest
    from gati.registry.mount import WithRegistry, registry_server

    return SelfDescribed(WithRegistry(served, registry_server(store, settings)),
                         build_manifest(app))
