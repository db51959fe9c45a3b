"""The playground served for real on loopback (uvicorn), over a seeded SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gati.store import Store, open_store
from tests.unit.playground._seed import seed, served


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
