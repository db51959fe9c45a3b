"""Write tests/golden/users-v1.json: records of the users example, as today's code writes them.

    .venv/bin/python tests/golden/make_golden.py [OUT]

Starts ``gati dev examples.users.app:app`` on a temporary SQLite file (as the tests do,
through ``tests/support.py``), sends a handful of requests covering the record's shapes,
waits for the recorder to settle, then dumps each request's ``requests`` row and its
``lifecycle_events`` rows, every column, in a stable order. Datetimes are ISO 8601
strings in UTC and bytes base64; the header's ``column_types`` says which columns are which.

Golden records are users' data from the past: regenerate only on purpose (a new shape to
cover), never to make ``tests/unit/replay/test_golden_records.py`` pass again.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from tests.support import DevSystem, eventually  # noqa: E402

APP = "examples.users.app:app"
OUT = Path(__file__).with_name("users-v1.json")
TABLES = ("requests", "lifecycle_events")
ORDER = {"requests": ("received_at", "request_id"), "lifecycle_events": ("request_id", "seq")}
V2 = {"x-gati-version": "v2"}


async def send(client: httpx.AsyncClient) -> list[tuple[str, int]]:
    """The requests the golden file covers: (what, status) in the order sent."""
    sent: list[tuple[str, int]] = []

    async def go(what: str, method: str, url: str, expect: int, **kw: Any) -> httpx.Response:
        r = await client.request(method, url, **kw)
        if r.status_code != expect:
            raise AssertionError(f"{what}: expected {expect}, got {r.status_code}: {r.text}")
        sent.append((what, r.status_code))
        return r

    ada = (await go("create v1", "POST", "/users", 201,
                    json={"name": "Ada Lovelace", "email": "ada@example.com"})).json()["id"]
    grace = (await go("create v2", "POST", "/users", 201, headers=V2,
                      json={"firstName": "Grace", "lastName": "Hopper",
                            "email": "grace@example.com"})).json()["id"]
    await go("create v2 single name", "POST", "/users?version=v2", 201,
             json={"firstName": "Plato", "lastName": "", "email": "plato@example.com"})
    await go("get v1", "GET", f"/users/{ada}", 200)
    await go("get v2", "GET", f"/users/{grace}", 200, headers=V2)
    await go("get v2 of a v1 row", "GET", f"/users/{ada}", 200, headers=V2)
    await go("list v1", "GET", "/users?limit=5", 200)
    await go("list v2 paged", "GET", "/users?limit=2&after=0", 200, headers=V2)
    await go("list bad limit", "GET", "/users?limit=abc", 400)
    await go("create missing field (schema)", "POST", "/users", 400, json={"name": "No Email"})
    await go("create bad email (handler)", "POST", "/users", 400,
             json={"name": "Bad Email", "email": "not-an-email"})
    await go("create malformed json", "POST", "/users", 400,
             content=b"{not json", headers={"content-type": "application/json"})
    await go("no such route", "GET", "/nope", 404)
    await go("no such user", "GET", "/users/999999", 404)
    await go("duplicate email", "POST", "/users", 409,
             json={"name": "Ada Again", "email": "ada@example.com"})
    await go("debug snapshots", "GET", f"/users/{ada}", 200, headers={"x-gati-debug": "1"})
    await go("debug snapshots on error", "POST", "/users", 409,
             headers={"x-gati-debug": "1"},
             json={"name": "Grace Again", "email": "grace@example.com"})
    await go("patch v1", "PATCH", f"/users/{ada}", 200, json={"name": "Ada King Lovelace"})
    await go("patch v2", "PATCH", f"/users/{grace}", 200, headers=V2,
             json={"lastName": "Murray Hopper"})
    await go("patch nothing", "PATCH", f"/users/{ada}", 400, json={})
    await go("delete", "DELETE", f"/users/{grace}", 204)
    await go("delete again", "DELETE", f"/users/{grace}", 404)
    return sent


def plain(value: Any) -> Any:
    if isinstance(value, datetime):
        # SQLite keeps no zone; the record's times are UTC, so say so.
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def kind(column: sa.Column[Any]) -> str:
    if isinstance(column.type, sa.DateTime):
        return "datetime"
    if isinstance(column.type, sa.LargeBinary):
        return "bytes"
    return "plain"


async def dump(database_url: str) -> dict[str, Any]:
    from gati.store import open_store

    store = await open_store(database_url)
    try:
        async def settled() -> bool:
            first = await store.count_events()
            await asyncio.sleep(0.5)
            return first > 0 and first == await store.count_events()

        await eventually(settled, within=30, what="the recorder to catch up")
        meta = sa.MetaData()
        async with store.engine.connect() as conn:
            await conn.run_sync(lambda sync: meta.reflect(sync, only=list(TABLES)))
            # Reflection sees SQLite's DATETIME/BLOB: the generic types kind() needs.
            out: dict[str, Any] = {"column_types": {}, "tables": {}}
            for name in TABLES:
                table = meta.tables[name]
                out["column_types"][name] = {c.name: kind(c) for c in table.columns}
                query = sa.select(table).order_by(*(table.c[k] for k in ORDER[name]))
                rows = (await conn.execute(query)).mappings().all()
                out["tables"][name] = [{k: plain(v) for k, v in r.items()} for r in rows]
        return out
    finally:
        await store.close()


def git(*args: str) -> str:
    # Not stripped: porcelain lines start with a status column that may be a space.
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    for key in [k for k in os.environ if k.startswith("USERS_")]:
        del os.environ[key]  # no API key, no SMTP password: the record holds no secret
    with tempfile.TemporaryDirectory(prefix="gati-golden-") as tmp:
        system = DevSystem.start(Path(tmp), extra_env={}, app=APP)
        try:
            async def run() -> tuple[list[tuple[str, int]], dict[str, Any]]:
                async with system.client() as client:
                    sent = await send(client)
                return sent, await dump(system.database_url)

            sent, data = asyncio.run(run())
        finally:
            system.stop(replay=False)
    changed = [line[3:] for line in git("status", "--porcelain").splitlines()
               if line[3:].startswith(("gati/", "examples/", "migrations/"))]
    golden = {
        "golden": "users example records, as written by `gati dev` at this commit",
        "commit": git("rev-parse", "HEAD").strip(),
        "uncommitted_changes": changed,  # in gati/, examples/, migrations/ when made
        "made_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "app": APP,
        "sent": [{"what": w, "status": s} for w, s in sent],
        **data,
    }
    out.write_text(json.dumps(golden, indent=1, sort_keys=False) + "\n")
    counts = {t: len(rows) for t, rows in data["tables"].items()}
    print(f"wrote {out} ({counts})")


if __name__ == "__main__":
    main()
