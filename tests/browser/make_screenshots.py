"""Screenshots of the playground's main views for docs/playground/ (run by hand).

    .venv/bin/python tests/browser/make_screenshots.py

The same seeded record and ``gati playground`` process as the browser tests.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.browser.conftest import CHROMIUM, DevServed, Served  # noqa: E402

OUT = ROOT / "docs" / "playground"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        served = Served(Path(tmp))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                shoot(page, served)
                dev = DevServed(Path(tmp))
                try:
                    shoot_gate(page, dev)
                finally:
                    dev.stop()
                browser.close()
        finally:
            served.stop()


def shoot_gate(page: object, dev: DevServed) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto(f"{dev.url}#/gates")
    page.get_by_test_id("gate-handler").fill("demo.create_order")
    page.get_by_test_id("gate-debug").check()
    page.get_by_test_id("gate-add").click()
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(httpx.post, f"{dev.app_url}/orders", timeout=60,
                           json={"item": "book", "qty": 2}, headers={"X-Gati-Debug": "1"})
        expect(page.get_by_test_id("paused")).to_be_visible()
        page.screenshot(path=str(OUT / "gates.png"), full_page=True)
        page.get_by_test_id("resume").click()
        held.result(timeout=30)


def shoot(page: object, served: Served) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto(served.url)
    expect(page.get_by_test_id("request-row")).to_have_count(len(served.ids))
    page.screenshot(path=str(OUT / "list.png"), full_page=True)
    page.goto(f"{served.url}#/r/{served.ids['order']}")
    expect(page.get_by_test_id("header-panel")).to_be_visible()
    page.screenshot(path=str(OUT / "request.png"), full_page=True)
    page.get_by_test_id("lifecycle-waterfall").click()
    page.get_by_test_id("waterfall").screenshot(path=str(OUT / "waterfall.png"))
    page.goto(f"{served.url}#/r/{served.ids['greet']}")
    page.get_by_test_id("replay-recorded").click()
    expect(page.get_by_test_id("replay-verdict")).to_have_text("diverged")
    page.get_by_test_id("replay").screenshot(path=str(OUT / "replay-diverged.png"))
    page.goto(f"{served.url}#/r/{served.ids['user_v1']}")
    page.get_by_test_id("replay-version").select_option("2025-01-01")
    page.get_by_test_id("replay-raw").check()
    page.get_by_test_id("replay-against").click()
    expect(page.get_by_test_id("replay-verdict")).to_have_text("diverged")
    page.get_by_test_id("replay").screenshot(path=str(OUT / "replay-version.png"))
    page.goto(f"{served.url}#/batch")
    page.get_by_test_id("batch-run").click()
    expect(page.get_by_test_id("batch-totals")).to_be_visible()
    page.screenshot(path=str(OUT / "batch.png"), full_page=True)


if __name__ == "__main__":
    main()
