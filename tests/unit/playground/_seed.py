"""Recorded traffic for the playground's tests: the demo app run in-process, recorded.

The requests go through the worker's own Pipeline and into the store with
``Store.record``, exactly what the recorder writes; ``seed`` returns their ids by name.
"""

from __future__ import annotations

import json
from typing import Any

from gati.core.context import ModuleEntry, Services
from gati.core.effects import CallPolicy
from gati.core.envelopes import RequestEnvelope
from gati.core.ids import RequestIdGenerator
from gati.core.pipeline import Pipeline
from gati.core.ports import SystemClock
from gati.store import Store
from tests.apps.playground_app import Stock, build

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
