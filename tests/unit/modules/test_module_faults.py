"""Fault isolation: whatever a module process does wrong, the worker and others go on.

Every test drives a real, sandboxed module process (misbehaving_module.py) and a second,
healthy module beside it, and asserts what a handler would see: the typed error of its
calls in flight, the module serving again, the other module never failing.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from modules_helpers import Started, leaf_pid, misbehaving_spec
from support import eventually

from gati.modules import (
    ModuleCallFailed,
    ModuleCrashed,
    ModuleProtocolError,
    ModuleUnavailable,
    ProcessModule,
)
from gati.modules.spec import RestartPolicy


async def _healthy_meanwhile(other: ProcessModule, stop: asyncio.Event) -> int:
    """Calls to the other module until ``stop``; any error fails the test."""
    done = 0
    while not stop.is_set():
        assert await other.echo(done) == done
        done += 1
    return done


async def _pair(tmp_path: Path, started: Started, **changes: object) -> tuple[
        ProcessModule, ProcessModule]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    bad = await started(misbehaving_spec(tmp_path / "a", **changes))
    good = await started(misbehaving_spec(tmp_path / "b", name="bystander"))
    return bad, good


async def test_kill_9_fails_calls_in_flight_typed_and_the_module_comes_back(
        tmp_path: Path, started: Started) -> None:
    bad, good = await _pair(tmp_path, started)
    stop = asyncio.Event()
    bystander = asyncio.ensure_future(_healthy_meanwhile(good, stop))
    in_flight = [asyncio.ensure_future(bad.sleep(30)) for _ in range(20)]
    assert bad.process is not None
    await eventually(lambda: _async(bad.process.in_flight == 20), within=10,  # type: ignore[union-attr]
                     what="20 calls in flight")
    os.kill(leaf_pid(bad.process.pid or 0), signal.SIGKILL)
    results = await asyncio.gather(*in_flight, return_exceptions=True)
    assert all(isinstance(r, ModuleCrashed) for r in results), results
    assert "exited" in str(results[0])
    # Back within the call's own bound: a new call waits for the restart and succeeds.
    assert await asyncio.wait_for(bad.echo("again"), 10) == "again"
    assert bad.stats.restarts == 1 and bad.stats.errors == 20
    stop.set()
    assert await bystander > 0 and good.stats.errors == 0


async def _async(value: bool) -> bool:
    return value


@pytest.mark.parametrize(("method", "error"), [
    ("garbage", ModuleProtocolError), ("oversized", ModuleProtocolError),
    ("exit", ModuleCrashed)])
async def test_a_bad_frame_or_exit_fails_only_its_module_and_it_restarts(
        tmp_path: Path, started: Started, method: str, error: type[Exception]) -> None:
    bad, good = await _pair(tmp_path, started)
    waiting = asyncio.ensure_future(bad.sleep(30))
    with pytest.raises(error):
        await getattr(bad, method)()
    with pytest.raises(error):
        await waiting
    assert await asyncio.wait_for(bad.echo(1), 10) == 1
    assert await good.echo(2) == 2 and good.stats.errors == 0


async def test_an_error_the_module_answers_is_typed_and_keeps_the_process(
        tmp_path: Path, started: Started) -> None:
    bad, _ = await _pair(tmp_path, started)
    pid = bad.process.pid if bad.process else None
    with pytest.raises(ModuleCallFailed, match=r"\[-32042\] no such user"):
        await bad.fail("no such user")
    assert bad.process is not None and bad.process.pid == pid and bad.stats.restarts == 0


async def test_flooding_stderr_neither_blocks_the_module_nor_grows_the_worker(
        tmp_path: Path, started: Started) -> None:
    bad, good = await _pair(tmp_path, started)
    # 64 MiB: far over any pipe buffer, so a worker that stopped reading would hang it.
    assert await asyncio.wait_for(bad.flood(64), 60) == 64
    assert bad.process is not None
    assert len(bad.process.stderr_tail()) <= 64 * 1024 + 16384
    assert await bad.echo("still here") == "still here"
    assert await good.echo(1) == 1


async def test_a_module_that_keeps_dying_trips_its_circuit_breaker(
        tmp_path: Path, started: Started) -> None:
    policy = RestartPolicy(backoff_s=0.01, backoff_max_s=0.05, breaker_crashes=3,
                           breaker_window_s=60.0, breaker_open_s=60.0)
    bad, good = await _pair(tmp_path, started, restart=policy)
    for _ in range(3):
        with pytest.raises(ModuleCrashed):
            await asyncio.wait_for(bad.exit(), 10)
    with pytest.raises(ModuleUnavailable, match="circuit breaker is open"):
        await bad.echo(1)
    assert await good.echo(1) == 1


async def test_a_hung_module_fails_its_health_check_and_is_restarted(
        tmp_path: Path, started: Started) -> None:
    from gati.modules.spec import Limits

    limits = Limits(timeout_s=60.0, health_s=0.1, health_timeout_s=0.5)
    bad, good = await _pair(tmp_path, started, limits=limits)
    waiting = asyncio.ensure_future(bad.sleep(30))
    with pytest.raises(ModuleUnavailable, match="hung: no answer to its health check"):
        await asyncio.wait_for(bad.freeze(), 20)  # long before the call's own 60 s
    with pytest.raises(ModuleUnavailable):
        await waiting
    assert await asyncio.wait_for(bad.echo("back"), 10) == "back"
    assert bad.stats.restarts == 1 and await good.echo(1) == 1
