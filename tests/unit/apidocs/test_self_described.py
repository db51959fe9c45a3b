"""/openapi.json and /docs in front of an app: served, turned off, or left to the app."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn

from gati import App
from gati.apidocs import SelfDescribed
from gati.codegen import openapi_document
from gati.manifest import build_manifest
from tests.support import free_port, served_on_loopback


def _app(*paths: str) -> App:
    app = App("docs-demo")
    for n, path in enumerate(paths):
        async def handler(req: Any, res: Any, lctx: Any, gctx: Any) -> None:
            res.json({"ok": True})

        app.get(path, handler_id=f"docs_demo.route{n}")(handler)
    return app


async def _inner(scope: Any, receive: Any, send: Any) -> None:
    """What the gateway would do with anything not answered in front: here, a marker."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 299, "headers": []})
    await send({"type": "http.response.body", "body": scope["path"].encode()})


@asynccontextmanager
async def _served(app: App, **options: bool) -> AsyncIterator[httpx.AsyncClient]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        SelfDescribed(_inner, build_manifest(app), **options), host="127.0.0.1", port=port,
        log_level="warning", lifespan="off"))
    async with served_on_loopback(server) as c:
        yield c


async def test_the_document_and_page_are_served_in_front_of_the_app() -> None:
    app = _app("/items")
    async with _served(app) as client:
        doc = await client.get("/openapi.json")
        page = await client.get("/docs")
        bundle = await client.get("/docs/static/swagger-ui-bundle.js")
        other = await client.get("/items")
    assert doc.json() == json.loads(json.dumps(openapi_document(build_manifest(app))))
    assert "docs/static/init.js" in page.text and "script-src 'self'" in page.headers[
        "content-security-policy"]
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    assert (other.status_code, other.text) == (299, "/items")


async def test_both_can_be_turned_off() -> None:
    async with _served(_app("/items"), docs=False) as client:
        assert (await client.get("/openapi.json")).status_code == 200
        assert (await client.get("/docs")).status_code == 299
    async with _served(_app("/items"), openapi=False) as client:
        assert (await client.get("/openapi.json")).status_code == 299
        assert (await client.get("/docs")).status_code == 299  # the page needs the document


async def test_an_app_route_at_either_path_wins() -> None:
    async with _served(_app("/docs", "/openapi.json")) as client:
        assert (await client.get("/openapi.json")).text == "/openapi.json"
        assert (await client.get("/docs")).status_code == 299
