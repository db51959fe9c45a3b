"""SIGHUP to a worker reloads its out-of-process modules: the production reload.

The worker's runtime (the object ``gati worker`` and ``gati dev`` run) installs the
handler; the test sends the real signal to its own process, with calls in flight, and
asserts what a handler would see: no call fails, and the new version answers after.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from modules_helpers import misbehaving_spec
from support import eventually

from gati import App
from gati.config import Settings
from gati.modules import ProcessModule, process_module
from gati.worker.runtime import WorkerRuntime


async def test_sighup_reloads_every_module_under_load_with_no_failed_call(
        tmp_path: Path) -> None:
    app = App("reload-on-signal")
    roots = [tmp_path / "a", tmp_path / "b"]
    for root, name in zip(roots, ("first", "second"), strict=True):
        root.mkdir()
        (root / "version.txt").write_text("1")
        process_module(app, misbehaving_spec(root, name=name))
    runtime = WorkerRuntime(app, Settings(topic_prefix="hup", worker_id="w1"), sources=[])
    await runtime.start()
    try:
        runtime.reload_on_signal()
        modules: list[ProcessModule] = list(runtime.module_instances.values())
        old = [m.process for m in modules]
        stop = asyncio.Event()

        async def load(module: ProcessModule) -> int:
            done = 0
            while not stop.is_set():
                assert await module.sleep(0.02) == 0.02
                done += 1
            return done

        workers = [asyncio.ensure_future(load(m)) for m in modules for _ in range(8)]
        await eventually(lambda: _true(all(p is not None and p.in_flight >= 4 for p in old)),
                         within=10, what="calls in flight on both old processes")
        for root in roots:
            (root / "version.txt").write_text("2")
        os.kill(os.getpid(), signal.SIGHUP)

        async def reloaded() -> bool:
            return all([await m.version() == "2" for m in modules])

        await eventually(reloaded, within=20, what="both modules answering as version 2")
        stop.set()
        counts = await asyncio.gather(*workers)  # a failed call raises here
        assert min(counts) > 0 and all(m.stats.errors == 0 for m in modules)
        assert all(m.stats.reloads == 1 for m in modules)
        await eventually(lambda: _true(all(p is not None and not p.alive for p in old)),
                         within=10, what="the old processes drained and gone")
    finally:
        await runtime.close()
    # Closed, the runtime no longer holds the signal: SIGHUP is back to its default.
    assert signal.getsignal(signal.SIGHUP) in (signal.SIG_DFL, signal.default_int_handler)


async def _true(value: bool) -> bool:
    return value
