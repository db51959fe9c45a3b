"""The playground's API on PostgreSQL: the same search, record and replay as on SQLite.

The demo app's traffic is recorded into a fresh database exactly as the recorder writes
it (``Store.record``, COPY for lifecycle rows); the playground serves it over loopback.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from gati.store import Store, open_store
from tests.unit.playground._seed import envelope, record, seed, served

pytestmark = pytest.mark.postgres
POST = {"X-Gati-Playground": "1"}


@pytest.fixture
async def pg_store(fresh_pg_database: str) -> AsyncIterator[Store]:
    store = await open_store(fresh_pg_database, migrate_first=True)
    yield store
    await store.close()


async def test_search_record_replay_and_import_on_postgres(pg_store: Store) -> None:
    ids = await seed(pg_store)
    async with served(pg_store) as c:
        seen, cursor = [], None
        while True:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            page = (await c.get("/api/requests", params=params)).json()
            seen += [i["request_id"] for i in page["items"]]
            if not (cursor := page["next_cursor"]):
                break
        assert seen == list(reversed(ids.values()))
        for params, name in [({"header": "x-tenant:globex"}, "order_other"),
                             ({"body": "item=book"}, "order"), ({"status": "4xx"}, "missing"),
                             ({"path": "/us", "version": "2024-01-01"}, "user_v1")]:
            items = (await c.get("/api/requests", params=params)).json()["items"]
            assert [i["request_id"] for i in items] == [ids[name]], params
        bad = await c.get("/api/requests", params={"status": "2xxx"})
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "status"

        one = (await c.get(f"/api/requests/{ids['order']}")).json()
        assert one["status"] == 201 and ["x-tenant", "acme"] in one["headers"]
        assert (await c.get("/api/requests/absent")).status_code == 404

        same = await c.post(f"/api/requests/{ids['order']}/replay", headers=POST, json={})
        assert same.json()["identical"] is True
        other = await c.post(f"/api/requests/{ids['greet']}/replay", headers=POST, json={})
        assert "$.greeting" in other.json()["divergence"]["message"]

        doc = (await c.get(f"/api/requests/{ids['order']}/export")).json()
        imported = await c.post("/api/import", headers=POST, content=json.dumps(doc))
        assert imported.json()["identical"] is True and imported.json()["imported"] is True

        [late] = await record(pg_store, envelope("GET", "/greet/late"))
        newest = (await c.get("/api/requests", params={"limit": "1"})).json()["items"][0]
        assert newest["request_id"] == late


async def test_the_first_page_is_a_keyset_read_whatever_the_depth(pg_store: Store) -> None:
    ids = await seed(pg_store)
    async with served(pg_store) as c:
        page = (await c.get("/api/requests", params={"limit": "1"})).json()
        deeper = (await c.get("/api/requests", params={"limit": "1",
                                                       "cursor": page["next_cursor"]})).json()
        assert page["scanned"] == 1 and deeper["scanned"] == 1
        assert deeper["items"][0]["request_id"] == ids["missing"]
