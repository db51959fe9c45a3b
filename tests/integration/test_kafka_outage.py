"""With Kafka stopped the gateway answers 503 + Retry-After in time, and recovers alone."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import ROOT, KafkaSystem, eventually, start_system

pytestmark = pytest.mark.timeout(400)
TIMEOUT_S = 8.0


def kafka(verb: str) -> None:
    subprocess.run([str(ROOT / "scripts" / "kafka.sh"), verb], check=True, timeout=180)


@pytest.fixture(scope="module")
def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KafkaSystem]:
    tmp: Path = tmp_path_factory.mktemp("outage")
    s = start_system("kafka", tmp, request, GATI_REQUEST_TIMEOUT_S=str(TIMEOUT_S))
    assert isinstance(s, KafkaSystem)
    yield s
    s.stop()


async def test_gateway_degrades_to_503_and_recovers(system: KafkaSystem) -> None:
    async with system.client(timeout=TIMEOUT_S * 3) as client:
        ok = await client.post("/users", json={"name": "a", "email": f"{uuid.uuid4().hex}@x.io"})
        assert ok.status_code == 201

        kafka("stop")
        try:
            for _ in range(3):
                started = time.monotonic()
                down = await client.post(
                    "/users", json={"name": "b", "email": f"{uuid.uuid4().hex}@x.io"}
                )
                elapsed = time.monotonic() - started
                assert down.status_code == 503, down.text
                assert down.headers["retry-after"].isdigit()
                assert down.json()["error"]["code"] == "log_unavailable"
                assert elapsed <= TIMEOUT_S + 1, f"took {elapsed:.1f}s, over the deadline"
            assert all(p.alive() for p in system.procs.values()), system.logs()
        finally:
            kafka("start")

        async def serving() -> bool:
            try:
                r = await client.post(
                    "/users", json={"name": "c", "email": f"{uuid.uuid4().hex}@x.io"}
                )
            except httpx.TimeoutException:
                return False
            return r.status_code == 201

        await eventually(serving, within=120, what="the gateway to serve again after Kafka is back")
        # And it keeps serving: several in a row, concurrently.
        replies = await asyncio.gather(
            *[
                client.post("/users", json={"name": "d", "email": f"{uuid.uuid4().hex}@x.io"})
                for _ in range(10)
            ]
        )
        assert [r.status_code for r in replies] == [201] * 10
