"""What every Kafka worker prepares before it consumes, for either consumer engine.

faust (``gati.worker.faust_worker``) and the bare aiokafka loop
(``gati.worker.kafka_worker``) differ only in how records reach ``Processor.handle``;
the producers, the app's runtime, the topics they declare, gate control and health are
these, in one place.
"""

from __future__ import annotations

import os

from gati.config import Settings
from gati.core.app import App
from gati.core.observe import Metrics, Tracer
from gati.observability.health import Health, HealthServer
from gati.store.store import create_engine
from gati.store.versions import VersionRegistry
from gati.wiring import Role, Security, events_topics, topics, worker_logs
from gati.worker.control import WorkerGateControl, start_gate_control
from gati.worker.processor import Processor
from gati.worker.runtime import WorkerRuntime
from gati.worker.subscribers import SubscriberRunner


class WorkerParts:
    """Gati's side of one Kafka worker, whichever consumer engine drives it: the
    producers, the app's runtime, the topics, gate control and health."""

    def __init__(self, app: App, settings: Settings, *, tracer: Tracer | None,
                 metrics: Metrics | None, health: Health | None,
                 health_server: HealthServer | None) -> None:
        self.app = app
        self.settings = settings
        self.out, self.journal_out = worker_logs(settings)
        self.security = Security.from_settings(settings)
        self.runtime = WorkerRuntime(app, settings, tracer=tracer, metrics=metrics,
                                     security=self.security)
        self.health = health
        self.health_server = health_server
        self.gate_control: WorkerGateControl | None = None
        self._closed = False

    async def prepare(self) -> tuple[Processor, SubscriberRunner]:
        """Start producers and the app, declare the topics; build processor and
        subscribers."""
        settings, runtime, out = self.settings, self.runtime, self.out
        if self.health_server is not None:
            await self.health_server.start(settings.metrics_port)
        await out.start()
        await self.journal_out.start()
        try:
            pipeline = await runtime.start(VersionRegistry(create_engine(settings.database_url)))
            runtime.reload_on_signal()  # SIGHUP reloads the app's modules
            assert runtime.services is not None
            subs = SubscriberRunner(self.app, settings, runtime.services, out,
                                    clock=runtime.clock)
            await out.ensure_topics(topics(settings, Role.WORKER)
                                    + events_topics(subs.topics()))
        except BaseException:
            await out.stop()
            await self.journal_out.stop()
            raise
        # Debug gates steered by `gati playground` over the control topic (issue 13).
        self.gate_control = await start_gate_control(pipeline, out, settings, os.environ)
        if self.health is not None:
            self.health.started()
        return Processor(settings, pipeline, out, clock=runtime.clock,
                         sealer=self.security.sealer, bodies=runtime.bodies, health=self.health,
                         journal_log=self.journal_out), subs

    async def close(self) -> None:
        """Once: the app's modules, then the producers and the health server."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.gate_control is not None:
                await self.gate_control.stop()
            await self.runtime.close()
        finally:
            await self.out.stop()
            await self.journal_out.stop()
            if self.health_server is not None:
                self.health_server.close()
