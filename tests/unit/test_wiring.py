"""The one wiring: every process builds its topics, security and services the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gati import App, GlobalContext, LocalContext, Request, Response
from gati.config import Settings
from gati.core.envelopes import RequestEnvelope
from gati.core.ports import SystemClock
from gati.replay import Replayer
from gati.store import Store, open_store
from gati.worker.runtime import WorkerRuntime


def configured_app() -> App:
    app = App("greeter", config={"greeting": "bonjour"})

    @app.get("/greet", handler_id="greeter.greet")
    async def greet(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.json({"greeting": gctx.config["greeting"],
                  "has_database": "database_url" in gctx.config})

    return app


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(f"sqlite+aiosqlite:///{tmp_path}/wiring.db", migrate_first=True)
    yield s
    await s.close()


async def test_a_handler_reading_its_config_replays_identically(store: Store) -> None:
    settings = Settings(database_url="sqlite+aiosqlite:///unused.db")
    runtime = WorkerRuntime(configured_app(), settings, sources=[])
    pipeline = await runtime.start()
    now = SystemClock().now_us()
    env = RequestEnvelope("req-config", "g", "t", 0, now, now + 10_000_000, "GET", "/greet",
                          "", (), b"")
    outcome = await pipeline.process(env)
    await runtime.close()
    assert outcome.response.status == 200, outcome.response.body
    await store.record([env], list(outcome.events))

    result = await Replayer(app=configured_app(), engine=store.engine,
                            settings=settings).replay("req-config")
    assert result.identical, (result.divergence, result.replayed_body)
    assert result.replayed_body == outcome.response.body
