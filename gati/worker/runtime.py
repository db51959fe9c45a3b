"""The app's live side in a worker: started modules, shared services and the pipeline."""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
import threading
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
        self._signals: list[int] = []
        self._reloading: asyncio.Task[None] | None = None
        self._reload_asked = False
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

    def reload_on_signal(self, signum: int = signal.SIGHUP) -> None:
        """``kill -HUP`` the process to reload its out-of-process modules, the production
        twin of ``gati modules reload``: no restart, no failed call. Installed by the
        long-running processes (worker, dev), not by library users of this class."""
        if threading.current_thread() is not threading.main_thread():
            log.info("not on the main thread (embedded in another program): signal %s "
                     "does not reload modules here", signum)
            return  # only the main thread may take signals
        asyncio.get_running_loop().add_signal_handler(signum, self._reload_signalled)
        self._signals.append(signum)

    def _reload_signalled(self) -> None:
        # A signal during a reload is not lost: one more reload follows it, so the
        # version on disk when the last signal came is the one that serves.
        self._reload_asked = True
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.ensure_future(self._reload_while_asked())

    async def _reload_while_asked(self) -> None:
        while self._reload_asked:
            self._reload_asked = False
            await self.reload_modules()

    async def reload_modules(self) -> dict[str, str]:
        """Every module that can reload, in turn: name -> the version now answering.

        One whose new process fails keeps its old one serving (logged), and the others
        still reload."""
        versions: dict[str, str] = {}
        for name, instance in list(self._instances.items()):
            if not callable(getattr(type(instance), "reload", None)):
                continue
            try:
                handshake = await instance.reload()
            except Exception as exc:
                log.error("module %s: reload failed, the old process serves on: %s",
                          name, exc)
                continue
            versions[name] = str(getattr(handshake, "version", ""))
            log.warning("module %s reloaded: version %s answers", name, versions[name])
        return versions

    @property
    def module_instances(self) -> dict[str, Any]:
        """The started modules (for a live replay)."""
        return dict(self._instances)

    async def close(self) -> None:
        for signum in self._signals:
            asyncio.get_running_loop().remove_signal_handler(signum)
        self._signals.clear()
        if self._reloading is not None:
            self._reloading.cancel()
            await asyncio.gather(self._reloading, return_exceptions=True)
            self._reloading = None
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
