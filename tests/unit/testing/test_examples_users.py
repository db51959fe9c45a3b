"""The shipped example app, scripting only its db (other modules fail only if called)."""

from __future__ import annotations

from examples.users.app import app
from gati.testing import GatiTestClient

ADA = {"id": 1, "name": "Ada Lovelace", "email": "ada@example.com"}


async def test_get_user_reads_through_the_db_module() -> None:
    client = GatiTestClient(app, modules={"db": {"get_user": [ADA, None]}})

    found = await client.get("/users/1")
    missing = await client.get("/users/2")

    assert found.status == 200 and found.json() == ADA
    assert missing.status == 404 and missing.error_code == "user_not_found"
    assert [c.name for c in found.calls()] == ["db.get_user"]
    assert [c.args for c in client.modules["db"].calls] == [(1,), (2,)]
