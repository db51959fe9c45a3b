"""Killing the recorder with SIGKILL under traffic loses and duplicates nothing."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from support import KafkaSystem, eventually, start_system

from gati.store import open_store

pytestmark = pytest.mark.timeout(300)

REQUESTS = 300


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("crash")


@pytest.fixture(scope="module")
def system(request: pytest.FixtureRequest, tmp: Path) -> Iterator[KafkaSystem]:
    # Small batches so the kill lands between many commits, not after the only one.
    s = start_system("kafka", tmp, request, GATI_RECORDER_BATCH_SIZE="20")
    assert isinstance(s, KafkaSystem)
    yield s
    s.stop()


async def test_sigkill_recorder_under_traffic(system: KafkaSystem, tmp: Path) -> None:
    store = await open_store(system.database_url)
    sent: list[str] = []

    async def traffic() -> None:
        async with system.client() as client:
            for batch in range(REQUESTS // 10):
                replies = await asyncio.gather(
                    *[
                        client.post(
                            "/users", json={"name": "k", "email": f"{uuid.uuid4().hex}@x.io"}
                        )
                        for _ in range(10)
                    ]
                )
                assert all(r.status_code == 201 for r in replies), [r.text for r in replies]
                sent.extend(r.headers["x-request-id"] for r in replies)
                del batch

    load = asyncio.create_task(traffic())
    # Kill once the recorder has demonstrably written part of the traffic.
    await eventually(lambda: _count(store, "requests"), within=60, what="first rows recorded")
    system.procs["recorder"].kill(signal.SIGKILL)
    killed_at = await _count(store, "lifecycle_events")
    await load
    assert len(sent) == REQUESTS
    system.restart("recorder", tmp)

    async def all_recorded() -> bool:
        return await _count(store, "lifecycle_events", "stage = 'responded'") >= REQUESTS + 1

    await eventually(all_recorded, within=120, what="every request recorded after restart")
    async with store.engine.connect() as conn:
        per_request = (
            await conn.execute(
                sa.text(
                    "SELECT request_id, count(*), min(seq), max(seq), "
                    "sum(CASE WHEN stage = 'responded' THEN 1 ELSE 0 END) "
                    "FROM lifecycle_events GROUP BY request_id"
                )
            )
        ).all()
    by_id = {r[0]: r[1:] for r in per_request}
    missing = [rid for rid in sent if rid not in by_id]
    assert not missing, f"{len(missing)} requests have no lifecycle rows"
    # Every POST /users takes the same steps, so all have the same, gap-free count.
    shapes = {by_id[rid] for rid in sent}
    assert len(shapes) == 1, f"requests were recorded differently: {sorted(shapes)[:3]}"
    count, lo, hi, responded = shapes.pop()
    assert (lo, hi, responded) == (0, count - 1, 1), (count, lo, hi, responded)
    steps_per_request = count
    assert (
        await _count(store, "requests", f"status = 201 AND request_id IN ({_list(sent)})")
        == REQUESTS
    )
    assert killed_at < REQUESTS * steps_per_request, "the kill should land mid-traffic"
    await store.close()


async def _count(store: object, table: str, where: str = "TRUE") -> int:
    engine = store.engine  # type: ignore[attr-defined]
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {where}"))
            ).scalar_one()
        )


def _list(ids: list[str]) -> str:
    return ",".join(f"'{i}'" for i in ids)
