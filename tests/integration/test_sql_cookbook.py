"""Every query in docs/sql.md returns the rows it should, on PostgreSQL and on SQLite.

The cookbook is parsed: each ```sql block under a heading is one query, and its first
line says whether it is portable (``-- sqlite: yes``). Every query runs, exactly as
written (the placeholder request id swapped for a seeded one), against a fresh,
migrated PostgreSQL database seeded with a realistic history (tests/unit/store/
_history_seed.py), and the portable ones against SQLite too. Each heading has its
expected rows here; a query added to the page without them fails the suite.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from unit.store._history_seed import ADA, CREATE, GET, V1, V2, Seeded, seed

from gati.store import open_store
from gati.store.views import VIEW_COLUMNS

DOC = Path(__file__).resolve().parents[2] / "docs" / "sql.md"
PLACEHOLDER = "01980000-0000-7000-8000-000000000000"
MARKER = re.compile(r"-- sqlite: (yes|no)")

JSON_COLUMNS = {"args", "kwargs", "result", "error", "detail"}
TIME_COLUMNS = {"at", "received_at", "last_seen", "hour"}


@dataclass(frozen=True)
class Query:
    heading: str
    sql: str
    sqlite: bool


def cookbook() -> list[Query]:
    """Each ```sql block, named by the nearest heading above it."""
    queries = []
    heading = None
    block: list[str] | None = None
    for line in DOC.read_text().splitlines():
        if block is not None:
            if line.startswith("```"):
                assert heading, "a ```sql block needs a heading above it"
                marker = MARKER.fullmatch(block[0]) if block else None
                assert marker, f"{heading!r}: the block must start with '-- sqlite: yes|no'"
                queries.append(Query(heading, "\n".join(block[1:]).strip(), marker[1] == "yes"))
                block, heading = None, None
            else:
                block.append(line)
        elif line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.strip() == "```sql":
            block = []
    return queries


QUERIES = cookbook()
PORTABLE = [q for q in QUERIES if q.sqlite]


def _id(q: Query) -> str:
    return re.sub(r"\W+", "-", q.heading.lower()).strip("-")


def base_time() -> datetime:
    """Two hours before the current hour: every seeded request is in the last day."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now - timedelta(hours=2)


def expected(s: Seeded) -> dict[str, list[tuple[Any, ...]]]:
    ids = s.ids
    hour = s.base
    return {
        "A request's timeline": [
            (0, "received", 0.0, None, None, None, None, None),
            (1, "routed", 0.3, None, None, None, None, None),
            (2, "hook_start", 0.5, "authenticate", None, None, None, None),
            (3, "hook_end", 1.7, "authenticate", None, None, None, None),
            (4, "hook_start", 1.8, "timing_start", None, None, None, None),
            (5, "hook_end", 2.0, "timing_start", None, None, None, None),
            (6, "handler_start", 2.2, None, None, None, None, None),
            (7, "effect", 2.3, None, None, None, None, None),
            (8, "effect", 5.2, None, "db", "insert_user", None, None),
            (9, "effect", 8.0, None, "mail", "send_welcome", None, None),
            (10, "log", 8.4, None, None, None, None, None),
            (11, "snapshot", 8.5, None, None, None, None, None),
            (12, "handler_end", 9.2, None, None, None, 201, None),
            (13, "hook_start", 9.3, "timing_end", None, None, None, None),
            (14, "hook_end", 9.6, "timing_end", None, None, None, None),
            (15, "hook_start", 9.7, "audit", None, None, None, None),
            (16, "hook_end", 10.2, "audit", None, None, None, None),
            (17, "responded", 10.4, None, None, None, 201, None),
        ],
        "A request's effects, in order": [
            (7, "clock", None, None, None, int(s.base.timestamp()) * 1_000_000 + 3100,
             None, None, None),
            (8, "module", "db", "insert_user", ["Ada Lovelace", "ada@example.com"], ADA,
             None, 2.9, 1),
            (9, "module", "mail", "send_welcome", ["ada@example.com"], None, None, 2.8, 1),
        ],
        "A request's log lines": [(10, 8.4, "info", "user created")],
        "A request's snapshots": [
            (11, 8.5, {"state": {"user_id": 1}, "tasks": [], "hook_index": 2,
                       "handler_version": V1, "label": "after_insert"}),
        ],
        "Slowest handlers": [(CREATE, 5, 10.48, 35.0), (GET, 2, 3.0, 4.0)],
        # percentile_cont interpolates: create ran 2.4, 3, 5, 7 and 35 ms.
        "Slowest handlers by percentile (PostgreSQL)": [
            (CREATE, 5, 5.0, 29.4, 35.0),
            (GET, 2, 3.0, 3.9, 4.0),
        ],
        "Slowest hooks": [
            ("authenticate", "before", "global", 7, 2, 0.871, 1.2),
            ("audit", "after", "route", 3, 0, 0.6, 0.7),
            ("timing_end", "after", "route", 3, 0, 0.333, 0.4),
            ("timing_start", "before", "route", 5, 0, 0.24, 0.3),
            ("answer_unauthorized", "catch", "global", 4, 0, 0.125, 0.2),
        ],
        "Slowest module methods": [
            ("mail", "send_welcome", 3, 11.867, 30.0),
            ("db", "insert_user", 5, 2.24, 2.9),
            ("db", "get_user", 2, 1.15, 1.3),
        ],
        # Answered create requests took 1.9, 5.5, 6.1, 9, 10.9 and 44 ms; gets 3.8, 6.2.
        "p95 latency by handler over the last day (PostgreSQL)": [
            (CREATE, 6, 35.725),
            (GET, 2, 6.08),
        ],
        "Errors by handler and version": [
            (CREATE, V2, 409, "email_taken", 2, s.at(9, 5.5)),
            (CREATE, V2, 401, "unauthorized", 1, s.at(5, 1.9)),
            (None, None, 404, "not_found", 1, s.at(7, 0.9)),
            (GET, "initial", 500, "internal_error", 1, s.at(4, 6.2)),
        ],
        "Failed module calls": [("db", "insert_user", 2), ("db", "get_user", 1)],
        "Requests with no answer": [(ids[8], "POST", "/users", s.at(8))],
        "Version usage over time": [
            (hour, CREATE, V1, 1),
            (hour, CREATE, V2, 3),
            (hour, GET, "initial", 2),
            (hour + timedelta(hours=1), CREATE, V1, 1),
            (hour + timedelta(hours=1), CREATE, V2, 2),
        ],
        "Requests by the schema their body travelled in (PostgreSQL)": [
            ("NewUserV1", s.body_schema, 6, 3),
        ],
        "Requests that touched db.insert_user": [
            (ids[0], 2.9, True, 201),
            (ids[1], 2.0, True, 201),
            (ids[2], 1.9, False, 409),
            (ids[6], 2.5, True, 201),
            (ids[9], 1.9, False, 409),
        ],
    }


def normalise(column: str, value: Any) -> Any:
    """One value as both databases mean it (see docs/sql.md on their differences)."""
    if value is None:
        return None
    if column in JSON_COLUMNS and isinstance(value, str):
        return json.loads(value)
    if column in TIME_COLUMNS and isinstance(value, str):  # SQLite keeps UTC text
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    if column == "ok":
        return bool(value)
    if isinstance(value, float | Decimal):
        return round(float(value), 3)
    return value


async def run(url: str, sql: str, request_id: str) -> list[tuple[Any, ...]]:
    store = await open_store(url)
    try:
        async with store.engine.connect() as conn:
            result = await conn.exec_driver_sql(sql.replace(PLACEHOLDER, request_id))
            columns = list(result.keys())
            return [tuple(normalise(c, v) for c, v in zip(columns, row, strict=True))
                    for row in result.all()]
    finally:
        await store.close()


async def view_columns(url: str) -> dict[str, list[str]]:
    store = await open_store(url)
    try:
        async with store.engine.connect() as conn:
            return {
                name: list((await conn.execute(sa.text(f"SELECT * FROM {name} LIMIT 0"))).keys())
                for name in VIEW_COLUMNS
            }
    finally:
        await store.close()


@dataclass(frozen=True)
class SeededDB:
    url: str
    seeded: Seeded


async def _migrate_and_seed(url: str) -> Seeded:
    store = await open_store(url, migrate_first=True)
    try:
        return await seed(store, base_time())
    finally:
        await store.close()


@pytest.fixture(scope="module")
def pg(fresh_pg_database: str) -> SeededDB:
    return SeededDB(fresh_pg_database, asyncio.run(_migrate_and_seed(fresh_pg_database)))


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededDB]:
    url = "sqlite+aiosqlite:///" + str(tmp_path_factory.mktemp("cookbook") / "gati.db")
    yield SeededDB(url, asyncio.run(_migrate_and_seed(url)))


def test_every_cookbook_query_has_its_expected_rows() -> None:
    headings = [q.heading for q in QUERIES]
    assert len(headings) == len(set(headings)), "headings name queries: keep them unique"
    fake = Seeded(base_time(), tuple(f"id-{i}" for i in range(10)))
    assert set(headings) == set(expected(fake))
    assert len(QUERIES) >= 12 and len(PORTABLE) >= 9
    assert all(PLACEHOLDER in q.sql for q in QUERIES if "request_id = '" in q.sql)


def test_the_views_are_documented() -> None:
    text = DOC.read_text()
    for name, columns in VIEW_COLUMNS.items():
        row = next((line for line in text.splitlines() if line.startswith(f"| `{name}` |")),
                   None)
        assert row is not None, f"docs/sql.md does not list the view {name}"
        for column in columns:
            assert f"`{column}`" in row, f"docs/sql.md: {name} does not document {column}"


@pytest.mark.postgres
@pytest.mark.parametrize("query", QUERIES, ids=_id)
async def test_cookbook_query_on_postgres(pg: SeededDB, query: Query) -> None:
    rows = await run(pg.url, query.sql, pg.seeded.ids[0])
    assert rows == expected(pg.seeded)[query.heading]


@pytest.mark.parametrize("query", PORTABLE, ids=_id)
async def test_cookbook_query_on_sqlite(lite: SeededDB, query: Query) -> None:
    rows = await run(lite.url, query.sql, lite.seeded.ids[0])
    assert rows == expected(lite.seeded)[query.heading]


@pytest.mark.postgres
async def test_the_views_have_their_documented_columns_on_postgres(pg: SeededDB) -> None:
    assert await view_columns(pg.url) == {k: list(v) for k, v in VIEW_COLUMNS.items()}


async def test_the_views_have_their_documented_columns_on_sqlite(lite: SeededDB) -> None:
    assert await view_columns(lite.url) == {k: list(v) for k, v in VIEW_COLUMNS.items()}
