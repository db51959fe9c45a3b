"""kill -9 of the Node example module (examples/users/modules/avatar) with calls in flight.

The calls in flight are ``badge`` calls held inside the Node process: each waits on the
worker's broker for a directory service that does not answer until the test lets it,
so the kill lands while the module is mid-call. The Go module serves beside it.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from modules_helpers import Started, avatar_spec, ids_spec, leaf_pid
from support import eventually

from gati.modules import ModuleCrashed, ProcessModule
from gati.modules.spec import Capabilities

# A restart after one crash waits the policy's first backoff (0.2 s by default) plus a
# Node start and handshake; the bound leaves room for a loaded 2-core machine.
BACK_WITHIN_S = 5.0


class _Held(http.server.BaseHTTPRequestHandler):
    release = threading.Event()
    asked = 0

    def do_GET(self) -> None:
        type(self).asked += 1
        type(self).release.wait(30)
        body = json.dumps({"badge": "gold"}).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def held_directory() -> Iterator[str]:
    """A directory service that holds every request until ``_Held.release`` is set."""
    _Held.release, _Held.asked = threading.Event(), 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Held)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    _Held.release.set()
    server.shutdown()
    server.server_close()


async def _bystander(ids: ProcessModule, stop: asyncio.Event) -> int:
    done = 0
    while not stop.is_set():
        assert await ids.sleep(0) == 0
        done += 1
    return done


async def test_kill_9_of_the_node_module_fails_its_calls_in_flight_typed_and_it_is_back(
        started: Started, held_directory: str) -> None:
    node: ProcessModule = await started(replace(
        avatar_spec(), capabilities=Capabilities(egress=(held_directory,))))
    ids: ProcessModule = await started(ids_spec())
    stop = asyncio.Event()
    bystander = asyncio.ensure_future(_bystander(ids, stop))
    url = f"http://{held_directory}"
    # Ten: more than the default thread pool's six, which the broker once fetched on.
    in_flight = [asyncio.ensure_future(node.badge(url, f"u{i}@example.com"))
                 for i in range(10)]
    await eventually(lambda: _true(_Held.asked == 10), within=10,
                     what="10 badge calls waiting inside the Node module")
    assert node.process is not None and node.process.in_flight == 10
    before = node.process.pid
    killed = time.monotonic()
    os.kill(leaf_pid(before or 0), signal.SIGKILL)

    results = await asyncio.gather(*in_flight, return_exceptions=True)
    assert all(isinstance(r, ModuleCrashed) for r in results), results
    assert "exited with code" in str(results[0])
    svg = await asyncio.wait_for(node.avatar("Ada Lovelace", 8), BACK_WITHIN_S)
    back_s = time.monotonic() - killed
    assert ">AL</text>" in svg and node.process.pid != before
    assert back_s < BACK_WITHIN_S and node.stats.restarts == 1 and node.stats.errors == 10
    stop.set()
    assert await bystander > 0 and ids.stats.errors == 0


async def _true(value: bool) -> bool:
    return value
