"""The registry served for real on loopback (uvicorn), over a SQLite schema store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from gati.config import Settings
from gati.registry import Registry, RegistryServer, load_frames
from gati.store import Store, open_store
from gati.store.schemas import SchemaStore
from tests.support import free_port, served_on_loopback

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
    async with served_on_loopback(server) as c:
        yield c


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}
