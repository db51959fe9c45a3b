"""The gates page of a standalone ``gati playground`` steering a Kafka worker.

Gateway, worker and recorder run on Kafka and PostgreSQL; the playground is its own
process reaching the worker only over the control topics. The page sets the gate, shows
it in force on the worker, shows the paused request with the worker's id and its lctx
state, and resumes it with an edit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support import Proc, System, free_port, start_system

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
APP = "tests.apps.playground_app:app"


# Started before the browser (first in the test's arguments): start_system runs its own
# event loop, which Playwright's, once running on this thread, would refuse.
@pytest.fixture(scope="module")
def system(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    s = start_system("kafka", tmp_path_factory.mktemp("browser-kafka"), request, app=APP,
                     GATI_ENVIRONMENT="development")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def playground(system: System, tmp_path_factory: pytest.TempPathFactory) -> str:
    port = free_port()
    proc = Proc("playground", ["playground", "--port", str(port), "--app", APP], system.env,
                tmp_path_factory.mktemp("pg") / "playground.log").start()
    system.procs["playground"] = proc  # stopped with the others
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        assert proc.alive(), f"gati playground exited: {proc.tail()}"
        try:
            httpx.get(url, timeout=1)
            return url
        except httpx.TransportError:
            assert time.monotonic() < deadline, "gati playground did not listen in 60 s"
            time.sleep(0.05)  # polling the port until it listens, not a wait on a race


def test_a_gate_set_on_the_page_pauses_and_resumes_a_kafka_worker_request(
        system: System, playground: str, page: Page) -> None:
    page.goto(f"{playground}#/gates")
    page.get_by_test_id("gate-handler").fill("demo.create_order")
    page.get_by_test_id("gate-debug").check()
    page.get_by_test_id("gate-add").click()
    expect(page.get_by_test_id("gate-armed")).to_contain_text("in force on wk-")
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(httpx.post, f"{system.base_url}/orders", timeout=60,
                           json={"item": "book", "qty": 2}, headers={"X-Gati-Debug": "1"})
        paused = page.get_by_test_id("paused")
        expect(paused).to_be_visible()
        expect(paused).to_contain_text("worker wk-")
        state = page.get_by_test_id("paused-state")
        assert json.loads(state.input_value()) == {"audited": True}
        greeted = httpx.get(f"{system.base_url}/greet/meanwhile", timeout=30)
        assert greeted.status_code == 200 and not held.done()
        state.fill('{"audited": "from the page"}')
        page.get_by_test_id("resume").click()
        answer = held.result(timeout=30)
    assert answer.status_code == 201 and answer.json()["audited"] == "from the page"
    expect(paused).to_have_count(0)
