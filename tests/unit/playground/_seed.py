"""Recorded traffic for the playground's tests, and the playground served over it.

The requests go through the worker's own Pipeline and into the store with
``Store.record``, exactly what the recorder writes; ``seed`` returns their ids by name.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from gati.config import Settings
from gati.core.app import App
from gati.core.context import ModuleEntry, Services
from gati.core.effects import CallPolicy
from gati.core.envelopes import RequestEnvelope
from gati.core.gates import DebugGates
from gati.core.ids import RequestIdGenerator
from gati.core.pipeline import Pipeline
from gati.core.ports import SystemClock
from gati.playground import Playground, PlaygroundServer
from gati.playground.server import uvicorn_server
from gati.store import Store
from tests.apps.playground_app import Stock, build, changed
from tests.support import free_port, served_on_loopback

_IDS = RequestIdGenerator()


def envelope(method: str, path: str, *, body: Any = None,
             headers: tuple[tuple[str, str], ...] = (), version: str | None = None,
             at_us: int | None = None) -> RequestEnvelope:
    now = at_us or SystemClock().now_us()
    data = b"" if body is None else json.dumps(body).encode()
    if body is not None:
        headers = (("content-type", "application/json"), *headers)
    return RequestEnvelope(_IDS.new(), "gw-test", "t", 0, now, now + 10_000_000, method, path,
                           "", headers, data, version_pref=version)


async def record(store: Store, *envelopes: RequestEnvelope) -> list[str]:
    app = build()
    services = Services(modules={"stock": ModuleEntry(Stock(), CallPolicy())}, config={})
    pipeline = Pipeline(app, services, clock=SystemClock())
    events = []
    for env in envelopes:
        events.extend((await pipeline.process(env)).events)
    await store.record(list(envelopes), events)
    return [e.request_id for e in envelopes]


async def seed(store: Store) -> dict[str, str]:
    """One of each: an order (body, header, snapshots), greetings, a v1 user, a 404."""
    names = ["order", "greet", "user_v1", "missing", "order_other"]
    ids = await record(
        store,
        envelope("POST", "/orders", body={"item": "book", "qty": 2},
                 headers=(("x-tenant", "acme"),)),
        envelope("GET", "/greet/ada"),
        envelope("GET", "/user", version="v1"),
        envelope("GET", "/nowhere"),
        envelope("POST", "/orders", body={"item": "pen", "qty": 1},
                 headers=(("x-tenant", "globex"),)),
    )
    return dict(zip(names, ids, strict=True))


@asynccontextmanager
async def served(store: Store, *, app: App | None = changed, token: str | None = None,
                 gates: DebugGates | None = None,
                 settings: Settings | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """The playground over ``store`` on a free loopback port, and a client for it."""
    port = free_port()
    playground = Playground(store, app=app, gates=gates, settings=settings)
    server = uvicorn_server(PlaygroundServer(playground, token=token), "127.0.0.1", port)
    async with served_on_loopback(server) as client:
        yield client
