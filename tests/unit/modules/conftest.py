"""Fixtures for out-of-process modules: real processes, sandboxed as in production.

The sandbox tools come from scripts/sandbox.sh and the Go example from
scripts/modules.sh; both are run here (idempotent, quick when up to date), so a fresh
machine needs nothing by hand. A missing tool fails the test: it never skips.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest
from modules_helpers import ROOT, Started

from gati.modules import ProcessModule, ProcessSpec


@pytest.fixture(scope="session", autouse=True)
def sandbox_tools() -> None:
    subprocess.run([str(ROOT / "scripts/sandbox.sh")], check=True, timeout=300)
    subprocess.run([str(ROOT / "scripts/modules.sh")], check=True, timeout=300)


@pytest.fixture
async def started() -> AsyncIterator[Started]:
    """``await started(spec)``: a started ProcessModule, closed after the test."""
    modules: list[ProcessModule] = []

    async def start(spec: ProcessSpec, **kw: Any) -> ProcessModule:
        module = ProcessModule(spec, **kw)
        await module.start()
        modules.append(module)
        return module

    yield start
    for module in modules:
        await module.close()
