"""Slow clients do not hold the gateway (issue 18): 200 connections sending their
headers one byte per second while normal clients are served, each cut off at the header
deadline; a body that trickles past its deadline is answered 408 and recorded. On
``gati gateway`` and on ``gati dev`` alike (both serve with ``gati.gateway.server``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from support import System, eventually, start_system

pytestmark = pytest.mark.timeout(240)
APP = "tests/apps/policies_app.py:app"
SLOW = 200
HEADER_TIMEOUT_S = 3


@pytest.fixture(scope="module", params=["embedded", "kafka"])
def system(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    s = start_system(request.param, tmp_path_factory.mktemp(f"slow-{request.param}"),
                     request, app=APP,
                     GATI_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S), GATI_BODY_TIMEOUT_S="2")
    yield s
    s.stop()


async def _trickle(host: str, port: int, closed: list[int]) -> None:
    """Send a request's headers one byte per second until the server hangs up."""
    reader, writer = await asyncio.open_connection(host, port)
    request = b"GET /public HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    try:
        for byte in request:
            writer.write(bytes([byte]))
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(reader.read(1), 1.0) == b"":
                    break  # closed by the server
        else:
            return  # never cut off: not counted
        closed.append(1)
    except (ConnectionError, OSError):
        closed.append(1)
    finally:
        writer.close()


async def test_slow_headers_do_not_stop_normal_clients_and_are_cut_off(system: System) -> None:
    url = urlsplit(system.base_url)
    assert url.hostname is not None and url.port is not None
    closed: list[int] = []
    slow = [asyncio.create_task(_trickle(url.hostname, url.port, closed)) for _ in range(SLOW)]
    try:
        async with system.client() as client:
            served = [await client.get("/public") for _ in range(50)]
        assert [r.status_code for r in served] == [200] * 50
        await eventually(lambda: _ready(len(closed) == SLOW), within=60,
                         what=f"all {SLOW} slow connections cut off ({len(closed)} so far)")
    finally:
        for task in slow:
            task.cancel()
        await asyncio.gather(*slow, return_exceptions=True)


async def test_a_body_slower_than_its_deadline_is_answered_408(system: System) -> None:
    url = urlsplit(system.base_url)
    assert url.hostname is not None and url.port is not None
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(b"POST /accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"na")
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 30)
    writer.close()
    assert status.startswith(b"HTTP/1.1 408"), status


async def _ready(value: bool) -> bool:
    return value
