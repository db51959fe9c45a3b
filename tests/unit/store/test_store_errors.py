"""One driver boundary: every database failure leaves gati.store as a StoreError.

The recorder retries StoreError and nothing else; a refused connection that escaped as
``ConnectionRefusedError`` ended it (issue 11, defect 3).
"""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError
from support import free_port

from gati.core.envelopes import LifecycleEvent
from gati.errors import StoreError, StoreUnavailable
from gati.store import Store, create_engine
from gati.store.errors import map_store_errors
from gati.store.schemas import SchemaNotFound, SchemaStore, body_schema_loader
from gati.store.versions import VersionRegistry


@pytest.mark.parametrize("raised", [
    ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"),
    ConnectionResetError(104, "Connection reset by peer"),
    TimeoutError(),
    OSError(-2, "Name or service not known"),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "refused")),
])
def test_unreachable_databases_are_store_unavailable(raised: BaseException) -> None:
    expected = pytest.raises(StoreUnavailable, match="writing: the database is unreachable")
    with expected, map_store_errors("writing"):
        raise raised


def test_refusals_are_store_errors_with_a_hint_when_tables_are_missing() -> None:
    with pytest.raises(StoreError, match="run `gati migrate`") as info, map_store_errors("r"):
        raise OperationalError("SELECT", {}, Exception("no such table: requests"))
    assert not isinstance(info.value, StoreUnavailable)
    with pytest.raises(StoreError, match="duplicate"), map_store_errors("writing"):
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))


@pytest.mark.parametrize("raised", [SchemaNotFound("no schema with id 3"), TypeError("bug"),
                                    KeyError("bug")])
def test_gati_errors_and_bugs_pass_through_unchanged(raised: BaseException) -> None:
    with pytest.raises(type(raised)) as info, map_store_errors("reading"):
        raise raised
    assert info.value is raised


@pytest.fixture
def nowhere() -> str:
    """A Postgres URL on a loopback port nothing listens on: every connect is refused."""
    return f"postgresql+asyncpg://gati:gati@127.0.0.1:{free_port()}/gati"


async def test_every_store_entry_the_recorder_and_workers_use_maps_a_refused_connection(
    nowhere: str,
) -> None:
    engine = create_engine(nowhere)
    store = Store(engine)
    try:
        event = LifecycleEvent("r1", 0, "received", 1_750_000_000_000_000)
        with pytest.raises(StoreUnavailable):
            await store.record([], [event])
        with pytest.raises(StoreUnavailable):
            await store.get_request("r1")
        with pytest.raises(StoreUnavailable):
            await body_schema_loader(engine)(1)
        with pytest.raises(StoreUnavailable):
            await SchemaStore(engine).ensure({"type": "string"})
        with pytest.raises(StoreUnavailable):
            await VersionRegistry(engine).versions()
    finally:
        await store.close()
