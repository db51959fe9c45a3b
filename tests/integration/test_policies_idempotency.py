"""Idempotency keys through HTTP (issue 18): a retried POST creates one account.

On both backends: 50 concurrent POSTs with one key create exactly one account; a retry
after completion gets the identical response, marked as a replay, and runs nothing (the
record has one effect); the same key with another body is 422; a route that requires a
key answers 400 without one. On Kafka, with two gateways: the key holds whichever
gateway a retry reaches, and a worker killed with SIGKILL during the first attempt
still leaves exactly one account once a retry is answered.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from support import KafkaSystem, Proc, System, eventually, free_port, start_system

from gati.store import open_store

pytestmark = pytest.mark.timeout(300)
APP = "tests/apps/policies_app.py:app"


class GateServer:
    """Holds every connection until released, then answers each with one byte."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.released = threading.Event()
        self.waiting = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.waiting += 1
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        self.released.wait()
        try:
            conn.sendall(b"1")
        finally:
            conn.close()


def _ledger(system: System) -> list[str]:
    path = Path(system.env["POLICIES_LEDGER"])
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture(scope="module", params=["embedded", "kafka"])
def system(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp(f"idem-{request.param}")
    s = start_system(request.param, tmp, request, app=APP,
                     POLICIES_LEDGER=str(tmp / "ledger.txt"))
    yield s
    s.stop()


async def _answered(client: httpx.AsyncClient, body: dict[str, object],
                    key: str) -> httpx.Response:
    """The retry's answer once the first attempt is answered (409 until then)."""
    async def probe() -> httpx.Response | None:
        r = await client.post("/accounts", json=body, headers={"idempotency-key": key})
        return None if r.status_code == 409 else r

    return await eventually(probe, within=90, what="the first attempt to be answered")


async def test_fifty_concurrent_posts_with_one_key_create_one_account(system: System) -> None:
    key, name = str(uuid.uuid4()), f"ada-{uuid.uuid4().hex[:8]}"
    body = {"name": name}
    async with system.client() as client:
        first = await asyncio.gather(*[
            client.post("/accounts", json=body, headers={"idempotency-key": key})
            for _ in range(50)])
        retry = await _answered(client, body, key)
        other = await client.post("/accounts", json={"name": "eve"},
                                  headers={"idempotency-key": key})
    statuses = sorted({r.status_code for r in first})
    assert set(statuses) <= {201, 409}, [r.text for r in first if r.status_code not in (201, 409)]
    created = [r for r in first if r.status_code == 201 and "idempotent-replayed" not in r.headers]
    assert len(created) == 1, statuses
    assert _ledger(system).count(name) == 1
    # The stored response: status, headers and body, marked as a replay, same request id.
    assert retry.status_code == 201 and retry.headers["idempotent-replayed"] == "true"
    assert retry.content == created[0].content
    assert retry.headers["x-account"] == created[0].headers["x-account"]
    assert retry.headers["x-request-id"] == created[0].headers["x-request-id"]
    for conflict in (r for r in first if r.status_code == 409):
        assert conflict.json()["error"]["code"] == "idempotency_in_flight"
        assert "retry-after" in conflict.headers
    assert other.status_code == 422 and other.json()["error"]["code"] == \
        "idempotency_key_reused"
    assert _ledger(system).count(name) == 1 and "eve" not in _ledger(system)
    # The record: one request ran the effect, and only one request was recorded at all.
    store = await open_store(system.database_url)
    try:
        async with store.engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT count(*) FROM lifecycle_events WHERE stage = 'effect' "
                "AND detail LIKE :name"), {"name": f"%{name}%"})).scalar_one()
        assert rows == 1
    finally:
        await store.close()


async def test_a_key_is_required_where_the_route_says_so(system: System) -> None:
    async with system.client() as client:
        without = await client.post("/transfers", json={})
        with_key = await client.post("/transfers", json={},
                                     headers={"idempotency-key": str(uuid.uuid4())})
        too_long = await client.post("/transfers", json={}, headers={"idempotency-key": "k" * 300})
    assert without.status_code == 400
    assert without.json()["error"]["code"] == "idempotency_key_required"
    assert with_key.status_code == 201
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == \
        "invalid_idempotency_key"


@pytest.fixture(scope="module")
def two_gateways(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                 ) -> Iterator[tuple[KafkaSystem, str]]:
    tmp = tmp_path_factory.mktemp("idem-two")
    s = start_system("kafka", tmp, request, app=APP, POLICIES_LEDGER=str(tmp / "ledger.txt"),
                     GATI_REQUEST_TIMEOUT_S="120")
    assert isinstance(s, KafkaSystem)
    port = free_port()
    env = {**s.env, "GATI_GATEWAY_ID": s.env["GATI_GATEWAY_ID"] + "b"}
    s.procs["gateway-b"] = Proc("gateway-b", ["gateway", APP, "--port", str(port)], env,
                                tmp / "gateway-b.log").start()
    second = f"http://127.0.0.1:{port}"

    async def healthy() -> bool:
        try:
            async with httpx.AsyncClient(base_url=second, timeout=5) as c:
                return (await c.get("/_gati/health")).status_code == 200
        except httpx.TransportError:
            return False

    asyncio.run(eventually(healthy, within=60, what="the second gateway"))
    yield s, second
    s.stop()


async def test_across_two_gateways_and_a_worker_killed_during_the_first_attempt(
    two_gateways: tuple[KafkaSystem, str], tmp_path: Path
) -> None:
    system, second = two_gateways
    gate = GateServer()
    key, name = str(uuid.uuid4()), f"kill-{uuid.uuid4().hex[:8]}"
    body = {"name": name, "hold": gate.address}
    a = httpx.AsyncClient(base_url=system.base_url, timeout=150)
    b = httpx.AsyncClient(base_url=second, timeout=150)
    try:
        first = asyncio.create_task(
            a.post("/accounts", json=body, headers={"idempotency-key": key}))
        # The effect has happened and the request waits at the gate: kill its worker.
        await eventually(lambda: _async(name in _ledger(system) and gate.waiting >= 1),
                         within=60, what="the first attempt to create the account")
        system.procs["worker"].kill(signal.SIGKILL)
        while_dead = await b.post("/accounts", json=body, headers={"idempotency-key": key})
        assert while_dead.status_code == 409, while_dead.text
        system.restart("worker", tmp_path)
        gate.released.set()
        retry = await _answered(b, body, key)
        original = await first
    finally:
        await a.aclose()
        await b.aclose()
    assert _ledger(system).count(name) == 1, _ledger(system)
    assert retry.status_code == 201, retry.text
    assert retry.headers["idempotent-replayed"] == "true"
    assert json.loads(retry.content) == {"number": json.loads(retry.content)["number"],
                                         "name": name}
    if original.status_code == 201:  # answered once the resumed attempt finished
        assert original.content == retry.content


async def _async(value: bool) -> bool:
    return value

