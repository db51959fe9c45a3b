"""A real browser on a real playground: Debian's chromium driven by Playwright.

``gati playground`` runs as its own process over a SQLite record seeded by the demo
app; the page is what a user opens. Chromium must be installed (scripts/browser.sh):
a missing browser fails the run, it never skips. A failed test leaves a screenshot in
GATI_BROWSER_ARTIFACTS (default /tmp/gati-browser-artifacts) and names it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from gati.store import open_store
from gati.store.versions import VersionRegistry
from tests.apps.playground_app import app as playground_app
from tests.support import free_port
from tests.unit.playground._seed import seed

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("GATI_BROWSER_ARTIFACTS", "/tmp/gati-browser-artifacts"))
T = TypeVar("T")
TOKEN = "browser-test-token-0123456789"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


# Module scope, not session: Playwright's sync API keeps an event loop running on this
# thread while it is started, which would break every asyncio test collected after it.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/browser.sh install", pytrace=False)
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=CHROMIUM,
                                   args=["--no-sandbox", "--disable-dev-shm-usage"])
    yield b
    b.close()


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a thread of its own: Playwright's sync API keeps an
    event loop running on this one, where asyncio.run is refused."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _seed(url: str) -> dict[str, str]:
    async def go() -> dict[str, str]:
        store = await open_store(url, migrate_first=True)
        try:
            await VersionRegistry(store.engine).register(playground_app)  # as a worker does
            return await seed(store)
        finally:
            await store.close()

    return run_async(go())


class Served:
    """A ``gati playground`` process and what it serves."""

    def __init__(self, tmp: Path, *, token: str | None = None) -> None:
        self.db = f"sqlite+aiosqlite:///{tmp}/record.db"
        self.ids = _seed(self.db)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = {**os.environ, "GATI_DATABASE_URL": self.db, "GATI_ENVIRONMENT": "development"}
        env.pop("GATI_PLAYGROUND_TOKEN", None)
        if token:
            env["GATI_PLAYGROUND_TOKEN"] = token
        self.log = (tmp / "playground.log").open("w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from gati.cli.main import main; main()", "playground",
             "--port", str(self.port), "--app", "tests.apps.playground_app:changed"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise AssertionError(f"gati playground exited: {self.log.read()}")
            try:
                httpx.get(self.url, timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.05)  # polling the port until it listens, not a wait on a race
        raise AssertionError("gati playground did not listen within 30 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class DevServed:
    """``gati dev`` of the demo app: the playground beside a live worker (debug gates)."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.app_url = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.app_url}/_gati/playground/"
        env = {**os.environ, "GATI_ENVIRONMENT": "development"}
        env.pop("GATI_DATABASE_URL", None)
        env.pop("GATI_PLAYGROUND_TOKEN", None)
        self.log = (tmp / "dev.log").open("w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from gati.cli.main import main; main()", "dev",
             "tests.apps.playground_app:app", "--port", str(self.port),
             "--state-dir", str(tmp / "state")],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        Served._wait(self)  # type: ignore[arg-type]

    def stop(self) -> None:
        Served.stop(self)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = Served(tmp_path_factory.mktemp("playground"))
    yield s
    s.stop()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True)
    p = context.new_page()
    p.set_default_timeout(15_000)
    yield p
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"{request.node.name}.png"
        p.screenshot(path=str(shot), full_page=True)
        print(f"\nscreenshot of the failure: {shot}")
    context.close()
