"""SIGTERM ends a worker and a recorder cleanly: status 0, nothing left unclosed.

Issue 11 saw every worker log ``Unclosed AIOKafkaProducer`` on SIGTERM: a producer the
event loop's end found still open, reclaimed by the garbage collector. Each process here
has served traffic first, so its producers and pools are really in use.
"""

from __future__ import annotations

import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import KafkaSystem, Proc, start_system

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.timeout(240)]

UNCLEAN = ("Unclosed", "Traceback", "Task was destroyed", "Event loop is closed")


@pytest.fixture(scope="module")
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[KafkaSystem]:
    tmp: Path = tmp_path_factory.mktemp("shutdown")
    s = start_system("kafka", tmp, request)
    assert isinstance(s, KafkaSystem)
    yield s
    s.stop(replay=False)


def _terminate(proc: Proc) -> tuple[int, str]:
    assert proc.popen is not None and proc.alive(), proc.tail()
    proc.popen.send_signal(signal.SIGTERM)
    try:
        code = proc.popen.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.popen.kill()
        raise AssertionError(f"{proc.name} ignored SIGTERM for 60 s:\n{proc.tail()}") from None
    return code, proc.log_path.read_text(errors="replace")


# The recorder first: the traffic before each stop needs the worker to answer it.
@pytest.mark.parametrize("name", ["recorder", "worker"])
async def test_sigterm_exits_0_with_nothing_unclosed(system: KafkaSystem, name: str) -> None:
    async with system.client() as client:
        for _ in range(5):
            r = await client.post("/users", json={"name": "s", "email": f"{uuid.uuid4().hex}@x.io"})
            assert r.status_code == 201, r.text
    code, log = _terminate(system.procs[name])
    unclean = [line for line in log.splitlines() if any(u in line for u in UNCLEAN)]
    assert code == 0, f"{name} exited with {code}:\n{log[-3000:]}"
    assert not unclean, f"{name} did not shut down cleanly:\n" + "\n".join(unclean[:20])
