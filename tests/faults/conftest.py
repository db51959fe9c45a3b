"""Fixtures of the fault suite: a database per test, a running system, the table."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from fault_report import HEADER, Report, write_table
from harness import FaultSystem, create_database, drop_database

_ROWS = pytest.StashKey[list[str]]()
_PROBLEMS = pytest.StashKey[list[str]]()


@pytest.fixture
async def fault_database(postgres_url: str) -> AsyncIterator[str]:
    """A new, empty database for one test (the shared fixture is per module)."""
    url = await create_database(postgres_url)
    yield url
    await drop_database(postgres_url, url)


@pytest.fixture
async def fault_system(kafka_bootstrap: str, fault_database: str,
                       tmp_path: Path) -> AsyncIterator[FaultSystem]:
    system = await FaultSystem.start(tmp_path, bootstrap=kafka_bootstrap,
                                     database_url=fault_database)
    try:
        yield system
    finally:
        system.stop()


@pytest.fixture
def emit(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Report], None]:
    """Print a scenario's row, keep it in tmp_path/faults.md and in the session table."""

    def _emit(report: Report) -> None:
        write_table(report, tmp_path)
        request.config.stash.setdefault(_ROWS, []).append(report.row())
        # Named under the table too, so a broken promise is visible in CI's output
        # even where the assertion that reports it is hidden (an xfail).
        request.config.stash.setdefault(_PROBLEMS, []).extend(
            f"{report.scenario}: {p}" for p in report.problems())

    return _emit


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    rows = config.stash.get(_ROWS, [])
    if rows:
        terminalreporter.section("fault suite")
        terminalreporter.write_line(HEADER)
        for row in rows:
            terminalreporter.write_line(row)
        for line in config.stash.get(_PROBLEMS, []):
            terminalreporter.write_line(f"- {line}"[:2000])
