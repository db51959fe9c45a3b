"""The registry served for real on loopback (uvicorn), over a SQLite schema store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from gati.config import Settings
from gati.registry import Registry, RegistryServer, load_frames
from gati.store import Store, open_store
from gati.store.schemas import SchemaStore
from tests.support import free_port

TOKEN = "registry-token-0123456789"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(f"sqlite+aiosqlite:///{tmp_path}/reg.db", migrate_first=True)
    yield s
    await s.close()


@pytest.fixture
async def client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """Anonymous client: reads only."""
    port = free_port()
    registry = Registry(load_frames(Settings()), SchemaStore(store.engine))
    server = uvicorn.Server(uvicorn.Config(RegistryServer(registry, token=TOKEN),
                                           host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            yield c
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}
