"""The running gateway describes its app: /openapi.json and a docs page that works offline.

A real ``gati gateway`` (of the Kafka system) serves the document; it must be exactly
what ``gati codegen openapi`` prints, per version, and valid OpenAPI 3.1. The page is
opened in Debian's chromium (as the playground's browser tests do) with every request
off the loopback refused, so it renders from the gateway alone.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate
from playwright.sync_api import sync_playwright
from support import GATI, ROOT, KafkaSystem, start_system

pytestmark = pytest.mark.timeout(240)
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def system(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaSystem]:
    tmp: Path = tmp_path_factory.mktemp("apidocs")
    s = start_system("kafka", tmp, request)
    assert isinstance(s, KafkaSystem)
    yield s
    s.stop()


def _codegen(system: KafkaSystem, *args: str) -> object:
    done = subprocess.run([GATI, "codegen", "openapi", system.app, *args], cwd=ROOT,
                          env=system.env, capture_output=True, text=True, check=True,
                          timeout=60)
    return json.loads(done.stdout)


def test_openapi_json_is_the_codegen_document_per_version(system: KafkaSystem) -> None:
    served = {}
    for version in (None, "v1"):
        params = {"version": version} if version else {}
        response = httpx.get(f"{system.base_url}/openapi.json", params=params, timeout=30)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        served[version] = response.json()
        validate(served[version])  # OpenAPI 3.1 (by its "openapi" field), or it raises
        assert served[version] == _codegen(system, *(("--version", version) if version else ()))
    assert served[None]["openapi"].startswith("3.1")
    assert served[None] != served["v1"]  # v1's users have no v2 fields


def test_the_docs_page_renders_offline_in_chromium(system: KafkaSystem) -> None:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/browser.sh install", pytrace=False)
    off_loopback: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            def only_loopback(route: object) -> None:
                url = route.request.url  # type: ignore[attr-defined]
                if url.startswith(system.base_url):
                    route.continue_()  # type: ignore[attr-defined]
                else:
                    off_loopback.append(url)
                    route.abort()  # type: ignore[attr-defined]

            page.route("**/*", only_loopback)
            page.goto(f"{system.base_url}/docs")
            paths = page.locator(".opblock-summary-path")
            paths.first.wait_for(timeout=30_000)
            shown = set(paths.all_inner_texts())
            title = page.locator(".info .title").inner_text()
        finally:
            browser.close()
    assert {"/users", "/users/{user_id}"} <= {s.replace("\u200b", "") for s in shown}
    assert title.startswith("users") or "users" in title.lower()
    assert off_loopback == [] and errors == []
