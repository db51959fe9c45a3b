"""The schema store and stored manifests, on SQLite and on the real Postgres."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gati.errors import StoreError
from gati.manifest import build_manifest
from gati.store import open_store
from gati.store.migrate import current_revision
from gati.store.schemas import (
    SchemaIncompatible,
    SchemaNotFound,
    SchemaStore,
    load_manifest,
    store_manifest,
)

pytestmark = pytest.mark.timeout(60)

USER_V1 = {
    "type": "record", "name": "User", "namespace": "gati.app.users.create_user",
    "fields": [{"name": "name", "type": "string"}, {"name": "email", "type": "string"}],
}
# Adding an optional field keeps old data readable (backward compatible).
USER_V2 = {**USER_V1, "fields": [*USER_V1["fields"],
                                 {"name": "age", "type": ["null", "long"], "default": None}]}
# The seed's breaking change: name split in two.
USER_SPLIT = {**USER_V1, "fields": [{"name": "firstName", "type": "string"},
                                    {"name": "lastName", "type": "string"},
                                    {"name": "email", "type": "string"}]}


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/s.db"
    return str(request.getfixturevalue("fresh_pg_database"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    store = await open_store(database_url, migrate_first=True)
    async with store.engine.begin() as conn:  # the Postgres database is per module
        for table in ("schema_subjects", "schemas", "manifests"):
            await conn.execute(sa.text(f"DELETE FROM {table}"))
    yield store.engine
    await store.close()


async def test_migration_is_at_0004_or_later(engine: AsyncEngine) -> None:
    assert int(await current_revision(engine) or "0") >= 4


async def test_register_is_idempotent_and_versions_a_subject(engine: AsyncEngine) -> None:
    store = SchemaStore(engine)
    first = await store.register("users.create.request", USER_V1)
    assert first == (first[0], 1)
    assert await store.register("users.create.request", json.dumps(USER_V1)) == first
    second = await store.register("users.create.request", USER_V2)
    assert second[1] == 2 and second[0] != first[0]
    # Re-registering an older schema answers its existing version, not a new one.
    assert await store.register("users.create.request", USER_V1) == first
    # The same schema under another subject shares the id.
    assert await store.register("other", USER_V1) == (first[0], 1)
    assert await store.subjects() == ["other", "users.create.request"]
    latest = await store.latest("users.create.request")
    assert latest is not None and (latest.version, latest.schema) == (2, USER_V2)
    assert [v.version for v in await store.versions("users.create.request")] == [1, 2]
    assert (await store.get(first[0])).schema == USER_V1
    assert await store.latest("nothing") is None
    with pytest.raises(SchemaNotFound):
        await store.get(10_000)


async def test_an_incompatible_version_is_refused_with_the_report(engine: AsyncEngine) -> None:
    store = SchemaStore(engine)
    await store.register("users", USER_V1)
    with pytest.raises(SchemaIncompatible) as caught:
        await store.register("users", USER_SPLIT)
    report = caught.value.report
    assert not report.compatible
    message = caught.value.message
    assert report.render() in message
    assert "firstName" in message  # the reader's new required field without default
    # The seed's breaking change names the removed and the added fields.
    assert caught.value.changes == [
        "- $.name: removed (string)",
        "+ $.firstName: added (string, no default)",
        "+ $.lastName: added (string, no default)",
    ]
    assert (await store.latest("users")).version == 1  # type: ignore[union-attr]
    # Mode none accepts anything; forward checks the other direction.
    assert (await store.register("users", USER_SPLIT, mode="none"))[1] == 2
    with pytest.raises(StoreError, match="unknown compatibility mode"):
        await store.register("users", USER_V1, mode="sideways")
    with pytest.raises(StoreError, match="not valid Avro"):
        await store.register("fresh", {"type": "record", "name": "X"})


async def test_concurrent_registrations_agree(engine: AsyncEngine) -> None:
    store = SchemaStore(engine)
    results = await asyncio.gather(*(store.register("race", USER_V1) for _ in range(8)))
    assert len(set(results)) == 1 and results[0][1] == 1


async def test_store_manifest_is_idempotent_and_loads_back(engine: AsyncEngine) -> None:
    from examples.typed_users.app import app

    manifest = build_manifest(app)
    assert await store_manifest(engine, manifest) is True
    assert await store_manifest(engine, manifest) is False
    loaded = await load_manifest(engine, "typed_users")
    assert loaded == manifest
    assert await load_manifest(engine, "typed_users", "nope") is None
