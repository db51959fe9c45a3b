"""The app's live side in a worker: started modules, ``gctx`` and the pipeline."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from gati.config import Settings
from gati.core.app import App
from gati.core.context import GlobalContext, ModuleRegistry
from gati.core.pipeline import Pipeline
from gati.core.ports import Clock, SystemClock
from gati.errors import AppError

log = logging.getLogger(__name__)


class WorkerRuntime:
    def __init__(self, app: App, settings: Settings, *, clock: Clock | None = None) -> None:
        self.app = app
        self.settings = settings
        self.clock = clock or SystemClock()
        self._instances: dict[str, Any] = {}
        self.gctx: GlobalContext | None = None
        self.pipeline: Pipeline | None = None

    def config(self) -> dict[str, Any]:
        cfg = {"database_url": self.settings.effective_app_database_url()}
        cfg.update(self.app.config)
        return cfg

    async def start(self) -> Pipeline:
        config = self.config()
        try:
            for name, factory in self.app.module_factories.items():
                instance = factory(config)
                if inspect.isawaitable(instance):
                    instance = await instance
                start = getattr(instance, "start", None)
                if start is not None:
                    result = start()
                    if inspect.isawaitable(result):
                        await result
                self._instances[name] = instance
        except Exception as exc:
            await self.close()
            raise AppError(f"module {name!r} failed to start: {exc}") from exc
        self.gctx = GlobalContext(ModuleRegistry(self._instances), config)
        self.pipeline = Pipeline(
            self.app, self.gctx, clock=self.clock, worker_id=self.settings.effective_worker_id()
        )
        return self.pipeline

    async def close(self) -> None:
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
