"""``/openapi.json`` and ``/docs`` in front of the gateway (or ``gati dev``'s app).

Answered here, never forwarded to Kafka: the document is a function of the manifest,
which the gateway process already has. ``?version=`` picks the version as ``gati codegen
openapi --version`` does (label, tag or timestamp). A route of the app at either path
wins: the app owns its URL space. Relative URLs in the page keep it working under any
``root_path``; the page's scripts are files (no inline script) so a strict CSP holds.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from gati.codegen import openapi_document
from gati.manifest import AppManifest

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
_STATIC_PREFIX = "/docs/static/"
_TYPES = {".js": b"text/javascript; charset=utf-8", ".css": b"text/css; charset=utf-8",
          ".html": b"text/html; charset=utf-8", ".png": b"image/png"}
_BUNDLE_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
_CSP = (b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; connect-src 'self'")


def _bundle_dir() -> Path:
    """Swagger UI's built files, as the ``swagger-ui-py`` package ships them (5.x: 3.1)."""
    import swagger_ui  # type: ignore[import-untyped]

    return Path(swagger_ui.__file__).parent / "static"


class SelfDescribed:
    """ASGI: the OpenAPI document and the docs page of ``manifest`` before ``app``."""

    def __init__(self, app: ASGIApp, manifest: AppManifest, *, openapi: bool = True,
                 docs: bool = True) -> None:
        self.app = app
        self.manifest = manifest
        taken = {h.path for h in manifest.handlers}
        self.openapi = openapi and OPENAPI_PATH not in taken
        # The page reads the document, so it is served only with it.
        self.docs = docs and self.openapi and not any(
            p == DOCS_PATH or p.startswith(DOCS_PATH + "/") for p in taken)
        self._documents: dict[str | None, bytes] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD"):
            if self.openapi and path == OPENAPI_PATH:
                await _send(send, b"application/json", self.document(_version(scope)))
                return
            if self.docs and path == DOCS_PATH:
                page = resources.files("gati.apidocs").joinpath("static", "docs.html")
                await _send(send, _TYPES[".html"], page.read_bytes(), csp=True)
                return
            if self.docs and path.startswith(_STATIC_PREFIX):
                found = _static(path[len(_STATIC_PREFIX):])
                if found is not None:
                    await _send(send, *found)
                    return
        await self.app(scope, receive, send)

    def document(self, version: str | None) -> bytes:
        """The document as ``gati codegen openapi [--version V]`` prints it, cached."""
        if version not in self._documents:
            doc = openapi_document(self.manifest, version=version)
            self._documents[version] = json.dumps(doc, indent=2).encode()
        return self._documents[version]


def _version(scope: Scope) -> str | None:
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    return query.get("version") or None


def _static(name: str) -> tuple[bytes, bytes] | None:
    if name == "init.js":
        data = resources.files("gati.apidocs").joinpath("static", "init.js").read_bytes()
        return _TYPES[".js"], data
    if name in _BUNDLE_FILES:
        file = _bundle_dir() / name
        return _TYPES[file.suffix], file.read_bytes()
    return None


async def _send(send: Send, content_type: bytes, body: bytes, *, csp: bool = False) -> None:
    headers = [(b"content-type", content_type), (b"cache-control", b"no-cache")]
    if csp:
        headers.append((b"content-security-policy", _CSP))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
