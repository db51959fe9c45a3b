"""The registry beside another ASGI app on one port: how ``gati dev`` serves it.

Under ``/_gati/registry`` (``SchemaRegistryClient({"url": "http://127.0.0.1:8000/_gati/
registry"})``: the client joins its paths onto the URL). Everything else, lifespan
included, goes to the app, as the playground's mount does.
"""

from __future__ import annotations

import os

from gati.config import Settings
from gati.errors import ConfigError
from gati.registry.frames import load_frames
from gati.registry.http import Receive, RegistryServer, Scope, Send
from gati.registry.service import Registry
from gati.store.schemas import SchemaStore
from gati.store.store import Store

PREFIX = "/_gati/registry"
MIN_TOKEN_CHARS = 16


def registry_token() -> str | None:
    """GATI_REGISTRY_TOKEN (an environment variable, never a flag: flags show in ``ps``),
    refused when too short to resist guessing."""
    token = os.environ.get("GATI_REGISTRY_TOKEN") or None
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"GATI_REGISTRY_TOKEN must be at least {MIN_TOKEN_CHARS} characters")
    return token


def registry_server(store: Store, settings: Settings) -> RegistryServer:
    """The registry over ``store``'s schemas and the frames of ``settings``' topics."""
    return RegistryServer(Registry(load_frames(settings), SchemaStore(store.engine)),
                          token=registry_token())


class WithRegistry:
    """ASGI: ``registry`` under :data:`PREFIX`, ``app`` for the rest."""

    def __init__(self, app: object, registry: RegistryServer) -> None:
        self.app = app
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and (path == PREFIX or path.startswith(PREFIX + "/")):
            inner = dict(scope, path=path[len(PREFIX):] or "/",
                         root_path=scope.get("root_path", "") + PREFIX)
            await self.registry(inner, receive, send)
            return
        await self.app(scope, receive, send)  # type: ignore[operator]
