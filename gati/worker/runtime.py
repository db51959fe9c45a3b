"""The app's live side in a worker: started modules, shared services and the pipeline."""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

from gati.codec.bodies import BodyCodecs, codecs_for, request_schema_ids
from gati.config import Settings
from gati.core.app import App
from gati.core.context import ModuleEntry, SecretSource, Services
from gati.core.observe import Metrics, NoMetrics, NoTracer, Tracer
from gati.core.pipeline import EffectsFactory, Pipeline
from gati.core.ports import Clock, SystemClock
from gati.core.redact import Redactor
from gati.errors import AppError
from gati.manifest import build_manifest
from gati.store.schemas import SchemaStore, body_schema_loader, store_manifest
from gati.store.versions import CachedVersionState, VersionRegistry
from gati.wiring import Security, app_config, pipeline_options, secret_sources, services

log = logging.getLogger(__name__)


class WorkerRuntime:
    def __init__(
        self,
        app: App,
        settings: Settings,
        *,
        clock: Clock | None = None,
        tracer: Tracer | None = None,
        metrics: Metrics | None = None,
        sources: list[SecretSource] | None = None,
        effects: EffectsFactory | None = None,
        security: Security | None = None,
    ) -> None:
        """``security`` default: from the settings (``gati dev`` shares its own)."""
        self.app = app
        self.security = security or Security.from_settings(settings)
        self.settings = settings
        self.clock = clock or SystemClock()
        self.tracer = tracer or NoTracer()
        self.metrics = metrics or NoMetrics()
        self.sources = sources if sources is not None else secret_sources(settings)
        self.effects = effects
        self._instances: dict[str, Any] = {}
        self.services: Services | None = None
        self.pipeline: Pipeline | None = None
        self._refresher: asyncio.Task[None] | None = None
        # Decoders for typed bodies; without a store no gateway can name a schema.
        self.bodies = BodyCodecs()
        # (handler id, version) -> schema id of its request type, once in the store.
        self.body_schema_ids: dict[tuple[str, str], int] = {}

    def config(self) -> dict[str, Any]:
        return app_config(self.app, self.settings)

    async def start(self, registry: VersionRegistry | None = None) -> Pipeline:
        """Start modules and build the pipeline.

        With a registry, the app's versions are registered and operator state (inactive
        versions, tags) is followed in the background; a database that is down only
        delays that, it never stops the worker.
        """
        self.app.validate()
        config = self.config()
        redactor = Redactor(self.security.masker)
        entries = await self._start_modules(config, redactor)
        self.services = services(self.app, config, entries, redactor=redactor,
                                 sources=self.sources, metrics=self.metrics)
        state = None
        if registry is not None:
            await self._register(registry)
            state = CachedVersionState(registry)
            self._refresher = asyncio.get_running_loop().create_task(state.run())
        self.pipeline = Pipeline(
            self.app, self.services, clock=self.clock,
            options=pipeline_options(self.settings, self.security),
            worker_id=self.settings.effective_worker_id(), tracer=self.tracer,
            effects=self.effects, versions=state,
        )
        return self.pipeline

    async def _start_modules(self, config: dict[str, Any],
                             redactor: Redactor | None = None) -> dict[str, ModuleEntry]:
        """Each module built from the config and started, in registration order."""
        entries: dict[str, ModuleEntry] = {}
        for name, spec in self.app.modules.items():
            try:
                instance = spec.factory(config)
                if inspect.isawaitable(instance):
                    instance = await instance
                # Out-of-process modules count on /metrics and mask the secrets they are
                # handed. Looked up on the class, so a module answering any attribute (an
                # RPC client's __getattr__) is not called.
                if callable(getattr(type(instance), "bind_worker", None)):
                    instance.bind_worker(metrics=self.metrics, redactor=redactor)
                start = getattr(instance, "start", None)
                if start is not None:
                    result = start()
                    if inspect.isawaitable(result):
                        await result
            except Exception as exc:
                await self.close()
                raise AppError(f"module {name!r} failed to start: {exc}") from exc
            self._instances[name] = instance
            entries[name] = ModuleEntry(instance, spec.policy)
        return entries

    async def _register(self, registry: VersionRegistry) -> None:
        """Versions, manifest and request schemas into the store; a failure only warns."""
        loader = body_schema_loader(registry.engine)
        self.bodies = BodyCodecs(loader)
        try:
            manifest = build_manifest(self.app)
            await registry.register(self.app, manifest)
            await store_manifest(registry.engine, manifest)
            self.body_schema_ids = await request_schema_ids(
                self.app, SchemaStore(registry.engine).ensure)
            self.bodies = codecs_for(self.app, self.body_schema_ids, loader)
        except Exception as exc:
            log.warning("could not register versions and manifest (will route without "
                        "operator state until the database answers): %r", exc)

    @property
    def module_instances(self) -> dict[str, Any]:
        """The started modules (for a live replay)."""
        return dict(self._instances)

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
            self._refresher = None
        for name, instance in reversed(list(self._instances.items())):
            close = getattr(instance, "close", None)
            if close is None:
                continue
            try:
                result = close()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("module %s failed to close", name)
        self._instances.clear()
