"""The playground served for real on loopback (uvicorn), over a seeded SQLite store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest

from gati.core.app import App
from gati.playground import Playground, PlaygroundServer
from gati.playground.server import uvicorn_server
from gati.store import Store, open_store
from tests.apps.playground_app import changed
from tests.support import free_port
from tests.unit.playground._seed import seed

Serve = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@asynccontextmanager
async def served(store: Store, *, app: App | None = changed,
                 token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """The playground over ``store`` on a free loopback port, and a client for it."""
    port = free_port()
    server = uvicorn_server(PlaygroundServer(Playground(store, app=app), token=token),
                            "127.0.0.1", port)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(f"sqlite+aiosqlite:///{tmp_path}/pg.db", migrate_first=True)
    yield s
    await s.close()


@pytest.fixture
async def ids(store: Store) -> dict[str, str]:
    return await seed(store)


@pytest.fixture
async def client(store: Store, ids: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with served(store) as c:
        yield c
