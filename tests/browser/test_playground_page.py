"""The playground page in chromium: what a user sees and clicks, against a real server.

The server runs the demo app after an edit to ``/greet`` (``changed``), so a recorded
greeting replays diverged while the recorded order replays identically.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from gati.store import open_store
from tests.browser.conftest import TOKEN, DevServed, Served, run_async
from tests.unit.playground._seed import envelope, record


def _open(page: Page, served: Served, rid: str) -> None:
    page.goto(f"{served.url}#/r/{rid}")
    expect(page.get_by_test_id("header-panel")).to_be_visible()


def test_the_list_shows_every_request_newest_first(page: Page, served: Served) -> None:
    page.goto(served.url)
    rows = page.get_by_test_id("request-row")
    expect(rows).to_have_count(len(served.ids))
    first = rows.first
    expect(first).to_have_attribute("data-request-id", served.ids["order_other"])
    expect(first).to_contain_text("/orders")
    expect(first).to_contain_text("201")


def test_filters_narrow_the_list_and_bad_ones_name_the_field(page: Page, served: Served) -> None:
    page.goto(served.url)
    page.get_by_test_id("filter-header").fill("x-tenant:acme")
    page.get_by_test_id("apply").click()
    rows = page.get_by_test_id("request-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-request-id", served.ids["order"])
    page.get_by_test_id("filter-header").fill("")
    page.get_by_test_id("filter-status").fill("4xx")
    page.get_by_test_id("apply").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-request-id", served.ids["missing"])
    page.get_by_test_id("filter-status").fill("teapot")
    page.get_by_test_id("apply").click()
    expect(page.get_by_test_id("error")).to_contain_text("field status")


def test_the_live_tail_adds_new_requests_without_reload(page: Page, served: Served) -> None:
    page.goto(served.url)
    rows = page.get_by_test_id("request-row")
    expect(rows).to_have_count(len(served.ids))
    page.get_by_test_id("live").check()
    expect(page.get_by_test_id("live")).to_be_checked()
    page.evaluate("window.__marker = 1")  # gone if the page reloads

    async def add() -> str:
        store = await open_store(served.db)
        try:
            [rid] = await record(store, envelope("GET", "/greet/tail"))
            return rid
        finally:
            await store.close()

    # The tail starts from the newest request when it connects; keep adding until one
    # arrives after it has (the first may land before the stream is open).
    for _ in range(20):
        rid = run_async(add())
        row = page.locator(f"[data-request-id='{rid}']")
        try:
            expect(row).to_be_visible(timeout=2_000)
            break
        except AssertionError:
            continue
    expect(rows.first).to_have_attribute("data-request-id", rid)
    assert page.evaluate("window.__marker") == 1


def test_one_request_in_its_three_lifecycle_views(page: Page, served: Served) -> None:
    _open(page, served, served.ids["order"])
    expect(page.get_by_test_id("head-request-id")).to_have_text(served.ids["order"])
    expect(page.get_by_test_id("head-handler")).to_have_text("demo.create_order")
    expect(page.get_by_test_id("request-pretty")).to_contain_text('"item": "book"')
    page.get_by_test_id("request-view-raw").click()
    expect(page.get_by_test_id("request-raw")).to_contain_text("x-tenant: acme")
    expect(page.get_by_test_id("response-pretty")).to_contain_text('"left": 8')
    titles = page.locator("[data-testid=hook-group] > .title").all_inner_texts()
    hooks = [t for t in titles if t != "request"]
    assert hooks == ["before audit", "handler", "after stamp"], titles
    page.get_by_test_id("lifecycle-waterfall").click()
    expect(page.get_by_test_id("waterfall-row").filter(has_text="stock.reserve")).to_have_count(1)
    handler = page.get_by_test_id("waterfall-row").filter(has_text="handler").locator(".wf-bar")
    box = handler.bounding_box()
    assert box is not None and box["width"] > 10  # drawn, not dropped by the page's CSP
    page.get_by_test_id("lifecycle-raw-json").click()
    raw = json.loads(page.get_by_test_id("lifecycle-raw").inner_text())
    assert raw[0]["stage"] == "received" and raw[-1]["stage"] == "responded"
    expect(page.get_by_test_id("effect-row").filter(has_text="stock.reserve")).to_have_count(1)
    diff = page.get_by_test_id("snapshot-diff")
    expect(diff.locator("tr").filter(has_text="$.audited")).to_contain_text("truetrue")


def test_replay_identical_and_diverged(page: Page, served: Served) -> None:
    _open(page, served, served.ids["order"])
    page.get_by_test_id("replay-recorded").click()
    expect(page.get_by_test_id("replay-verdict")).to_have_text("identical")
    _open(page, served, served.ids["greet"])
    page.get_by_test_id("replay-recorded").click()
    expect(page.get_by_test_id("replay-verdict")).to_have_text("diverged")
    expect(page.get_by_test_id("divergence")).to_contain_text("$.greeting")
    expect(page.get_by_test_id("replayed-body")).to_contain_text("Howdy, ada")
    expect(page.get_by_test_id("recorded-body")).to_contain_text("Hello, ada")


def test_replay_from_a_snapshot_starts_there(page: Page, served: Served) -> None:
    _open(page, served, served.ids["order"])
    options = page.get_by_test_id("replay-at").locator("option")
    expect(options).to_have_count(2)  # after the audit hook, and before the handler
    page.get_by_test_id("replay-at").select_option(index=1)
    page.get_by_test_id("replay-snapshot").click()
    expect(page.get_by_test_id("replay-result")).to_have_attribute("data-kind", "from_snapshot")
    second = page.get_by_test_id("replay-at").input_value()
    expect(page.get_by_test_id("replay-result")).to_contain_text(f"from snapshot (step {second})")
    expect(page.get_by_test_id("replay-verdict")).to_have_text("identical")
    replayed = page.locator("[data-testid=trace] td:nth-child(3)").all_inner_texts()
    assert replayed[0] == "handler_start" and not any("audit" in t for t in replayed), replayed
    expect(page.get_by_test_id("replayed-body")).to_contain_text('"audited": true')


def test_replay_against_another_version_side_by_side(page: Page, served: Served) -> None:
    _open(page, served, served.ids["user_v1"])
    page.get_by_test_id("replay-version").select_option("2025-01-01")
    page.get_by_test_id("replay-raw").check()
    page.get_by_test_id("replay-against").click()
    expect(page.get_by_test_id("replay-verdict")).to_have_text("diverged")
    expect(page.get_by_test_id("replayed-body")).to_contain_text('"firstName": "Ada"')
    expect(page.get_by_test_id("recorded-body")).to_contain_text('"name": "Ada Lovelace"')
    expect(page.get_by_test_id("divergent-step")).to_have_count(1)


def test_versions_with_usage_and_the_compatibility_report(page: Page, served: Served) -> None:
    page.goto(f"{served.url}#/versions")
    rows = page.get_by_test_id("version-row").filter(has_text="demo.user")
    expect(rows).to_have_count(2)
    expect(rows.first.get_by_test_id("temperature")).to_have_text("warm")
    page.get_by_test_id("compat-handler").fill("demo.user")
    page.get_by_test_id("compat-old").fill("v1")
    page.get_by_test_id("compat-new").fill("v2")
    page.get_by_test_id("compat-run").click()
    expect(page.get_by_test_id("compat-verdict")).to_have_text("breaking")
    expect(page.get_by_test_id("compat-response")).to_contain_text("$.name")


def test_an_edited_body_replay_is_marked(page: Page, served: Served) -> None:
    _open(page, served, served.ids["order"])
    page.get_by_test_id("replay-body").fill('{"item": "book", "qty": 5}')
    page.get_by_test_id("replay-edited-run").click()
    expect(page.get_by_test_id("replay-edited")).to_be_visible()
    expect(page.get_by_test_id("divergence")).to_contain_text("stock.reserve('book', 5)")


def test_batch_replay_summarises_and_links_divergences(page: Page, served: Served) -> None:
    page.goto(f"{served.url}#/batch")
    page.get_by_test_id("batch-run").click()
    expect(page.get_by_test_id("batch-totals")).to_contain_text("diverged")
    bar = page.get_by_test_id("batch-progress")
    value, most = bar.evaluate("b => [b.value, b.max]")
    assert value == most >= len(served.ids)  # full: every request of the window replayed
    expect(page.get_by_test_id("batch-totals")).to_contain_text(f"{int(most)} replayed")
    link = page.get_by_test_id("batch-divergence").filter(has_text=served.ids["greet"])
    expect(link).to_have_count(1)
    link.get_by_role("link").click()
    expect(page.get_by_test_id("head-request-id")).to_have_text(served.ids["greet"])


def test_export_then_import_replays_the_file(page: Page, served: Served, tmp_path: Path) -> None:
    _open(page, served, served.ids["order"])
    with page.expect_download() as download:
        page.get_by_test_id("export").click()
    saved = tmp_path / "order.json"
    download.value.save_as(saved)
    assert json.loads(saved.read_text())["request"]["request_id"] == served.ids["order"]
    page.get_by_test_id("import-file").set_input_files(str(saved))
    expect(page.get_by_test_id("replay-imported")).to_be_visible()
    expect(page.get_by_test_id("replay-verdict")).to_have_text("identical")
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": "world"}')
    page.get_by_test_id("import-file").set_input_files(str(junk))
    expect(page.get_by_test_id("error")).to_contain_text("not a Gati record")


def test_a_token_is_asked_for_and_a_wrong_one_refused(page: Page, tmp_path: Path) -> None:
    guarded = Served(tmp_path, token=TOKEN)
    try:
        page.goto(guarded.url)
        expect(page.get_by_test_id("token-form")).to_be_visible()
        expect(page.get_by_test_id("request-row")).to_have_count(0)
        page.get_by_test_id("token-input").fill("wrong-token-wrong-token")
        page.get_by_role("button", name="Use token").click()
        expect(page.get_by_test_id("token-error")).to_contain_text("wrong token")
        page.get_by_test_id("token-input").fill(TOKEN)
        page.get_by_role("button", name="Use token").click()
        expect(page.get_by_test_id("request-row")).to_have_count(len(guarded.ids))
    finally:
        guarded.stop()


def test_a_debug_gate_pauses_a_live_request_which_is_edited_and_resumed(
        page: Page, tmp_path: Path) -> None:
    dev = DevServed(tmp_path)
    try:
        page.goto(f"{dev.url}#/gates")
        page.get_by_test_id("gate-handler").fill("demo.create_order")
        page.get_by_test_id("gate-debug").check()
        page.get_by_test_id("gate-add").click()
        expect(page.get_by_test_id("gate")).to_contain_text("before handler of demo.create_order")
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(httpx.post, f"{dev.app_url}/orders", timeout=60,
                               json={"item": "book", "qty": 2}, headers={"X-Gati-Debug": "1"})
            paused = page.get_by_test_id("paused")
            expect(paused).to_be_visible()
            state = page.get_by_test_id("paused-state")
            assert json.loads(state.input_value()) == {"audited": True}
            state.fill('{"audited": "by hand"}')
            page.get_by_test_id("resume").click()
            answer = held.result(timeout=30)
        assert answer.status_code == 201 and answer.json()["audited"] == "by hand"
        expect(paused).to_have_count(0)
        rid = answer.headers["x-request-id"]
        recorded = f"{dev.url}api/requests/{rid}"
        deadline = time.monotonic() + 30
        while not (httpx.get(recorded).status_code == 200
                   and httpx.get(recorded).json()["answered"]):
            assert time.monotonic() < deadline, "the steered request was never recorded"
            time.sleep(0.1)  # polls the recorder's progress, the condition waited on
        page.goto(f"{dev.url}#/r/{rid}")
        expect(page.get_by_test_id("hooks")).to_contain_text("gate_edited")
        expect(page.get_by_test_id("head-worker")).to_have_text(re.compile(r"^wk-\S+$"))
        expect(page.get_by_test_id("head-kafka-topic")).to_have_text("gati.requests")
        expect(page.get_by_test_id("head-kafka-partition")).to_have_text(re.compile(r"^\d+$"))
        expect(page.get_by_test_id("head-kafka-offset")).to_have_text(re.compile(r"^\d+$"))
        page.get_by_test_id("replay-recorded").click()
        expect(page.get_by_test_id("replay-verdict")).to_have_text("identical")
    finally:
        dev.stop()
