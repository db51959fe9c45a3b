"""`gati history ID` and `gati history prune` against a SQLite record, as users run them."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from unit.store._history_seed import CREATE, V1, V2, Seeded, build, seed

from gati.cli.main import cli
from gati.store import open_store

UNKNOWN = "01980000-0000-7000-8000-000000000000"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return "sqlite+aiosqlite:///" + str(tmp_path / "gati.db")


def _seed(url: str, *bases: datetime) -> list[Seeded]:
    async def main() -> list[Seeded]:
        store = await open_store(url, migrate_first=True)
        try:
            return [await seed(store, base) for base in bases]
        finally:
            await store.close()

    return asyncio.run(main())


def _count(url: str, table: str) -> int:
    async def main() -> int:
        store = await open_store(url)
        try:
            async with store.engine.connect() as conn:
                return int((await conn.execute(sa.text(f"SELECT count(*) FROM {table}")))
                           .scalar_one())
        finally:
            await store.close()

    return asyncio.run(main())


@pytest.fixture
def seeded(db_url: str) -> Seeded:
    return _seed(db_url, datetime(2025, 6, 15, 12, tzinfo=UTC))[0]


def gati(url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"GATI_DATABASE_URL": url})


# gati history ID


def test_history_shows_the_header_and_one_line_per_step(db_url: str, seeded: Seeded) -> None:
    result = gati(db_url, "history", seeded.ids[0])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert not ANSI.search(result.output)  # not a terminal: no colours
    assert lines[0] == (f"POST /users → 201  {CREATE} version {V1}  10.9 ms  gateway gw-1")
    assert lines[1].startswith(f"request {seeded.ids[0]}  received 2025-06-15 12:00:00.000 UTC")
    steps = lines[3:]
    assert len(steps) == 18
    assert steps[0] == " +0.000 ms  received       POST /users via gw-1"
    assert steps[1] == " +0.300 ms  routed         users.create_user /users version 2025-01-01"
    assert steps[2] == " +0.500 ms  hook_start     authenticate (global before)"
    assert steps[3] == " +1.700 ms  hook_end       authenticate 1.2 ms"
    # steps inside the handler are indented under it
    assert steps[6] == " +2.200 ms  handler_start"
    assert steps[8] == (
        " +5.200 ms    effect         db.insert_user(\"Ada Lovelace\", \"ada@example.com\") → "
        "{\"id\":1,\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\"} · 2.9 ms"
    )
    assert steps[10] == " +8.400 ms    log            [info] user created user_id=1"
    assert steps[11] == (
        " +8.500 ms    snapshot       after_insert: state keys user_id · hook_index 2"
    )
    assert steps[12] == " +9.200 ms  handler_end    201"
    assert steps[-1] == "+10.400 ms  responded      201"


def test_history_shows_failures_retries_and_module_errors(db_url: str, seeded: Seeded) -> None:
    taken = gati(db_url, "history", seeded.ids[2]).output
    assert taken.splitlines()[0].startswith("POST /users → 409 email_taken")
    assert "db.insert_user(\"Ada Lovelace\", \"ada@example.com\") ✗ EmailTaken: ada@example.com" \
        in taken
    assert ("failed         409 email_taken RequestError: ada@example.com is already "
            "registered (examples/users/app.py:71)") in taken

    retried = gati(db_url, "history", seeded.ids[6]).output
    assert ("hook_error     authenticate attempt 1 ✗ HookTimeout: hook authenticate did not "
            "finish in 0.005s → retrying") in retried
    assert "authenticate (global before, attempt 2)" in retried
    assert "mail.send_welcome(\"linus@example.com\") → null · 30 ms · 3 attempts" in retried

    not_found = gati(db_url, "history", seeded.ids[7]).output
    assert not_found.splitlines()[0].startswith("GET /nope → 404 not_found")
    assert "failed         404 not_found no route for GET /nope" in not_found


def test_history_of_a_request_without_an_answer(db_url: str, seeded: Seeded) -> None:
    result = gati(db_url, "history", seeded.ids[8])
    assert result.exit_code == 0
    assert result.output.splitlines()[0].startswith("POST /users → no answer recorded")


def test_history_json_is_machine_readable(db_url: str, seeded: Seeded) -> None:
    result = gati(db_url, "history", seeded.ids[1], "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {k: data[k] for k in ("request_id", "method", "path", "status", "handler_id",
                                 "version", "answered", "duration_ms")} == {
        "request_id": seeded.ids[1], "method": "POST", "path": "/users", "status": 201,
        "handler_id": CREATE, "version": V2, "answered": True, "duration_ms": 9.0}
    assert data["received_at"] == "2025-06-15T12:10:00+00:00"
    steps = data["steps"]
    assert [s["seq"] for s in steps] == list(range(len(steps)))
    insert = next(s for s in steps if s["stage"] == "effect" and s["detail"]["kind"] == "module")
    assert insert["detail"]["args"] == ["Grace Hopper", "grace@example.com"]
    assert insert["summary"].startswith("db.insert_user(")
    assert steps[-1]["stage"] == "responded" and steps[-1]["ms_since_start"] == 8.5


def test_history_accepts_an_uppercase_id_and_the_explicit_show_word(
    db_url: str, seeded: Seeded
) -> None:
    assert gati(db_url, "history", seeded.ids[0].upper()).exit_code == 0
    assert gati(db_url, "history", "show", seeded.ids[0]).exit_code == 0


def test_an_unknown_id_says_so_on_stderr_and_exits_1(db_url: str, seeded: Seeded) -> None:
    result = gati(db_url, "history", UNKNOWN)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"request {UNKNOWN} is not recorded" in result.stderr


@pytest.mark.parametrize("bad", ["42", "not-an-id", "0198-0000", "--"])
def test_a_malformed_id_exits_2(db_url: str, seeded: Seeded, bad: str) -> None:
    result = gati(db_url, "history", bad)
    assert result.exit_code == 2
    assert result.stdout == ""


def test_a_missing_sqlite_file_is_an_error_not_a_new_database(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "gati.db"
    result = gati("sqlite+aiosqlite:///" + str(missing), "history", UNKNOWN)
    assert result.exit_code == 2
    assert "no database at" in result.stderr
    assert not missing.parent.exists()


def test_history_help_lists_prune(db_url: str) -> None:
    result = gati(db_url, "history", "--help")
    assert result.exit_code == 0
    assert "prune" in result.output and "show" in result.output


# gati history prune


def test_prune_deletes_old_requests_and_keeps_recent_ones(db_url: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    old, recent = _seed(db_url, now - timedelta(days=45), now - timedelta(days=2))
    old_events = sum(len(r.events) for r in build(old.base)[0])
    recent_events = sum(len(r.events) for r in build(recent.base)[0])

    dry = gati(db_url, "history", "prune", "--older-than", "30d", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.output.startswith(f"would delete 10 requests and {old_events} lifecycle events")
    assert _count(db_url, "requests") == 20

    done = gati(db_url, "history", "prune", "--older-than", "30d", "--batch-size", "4")
    assert done.exit_code == 0, done.output
    assert done.output.startswith(f"deleted 10 requests and {old_events} lifecycle events")
    assert "in 3 batches" in done.output
    assert (_count(db_url, "requests"), _count(db_url, "lifecycle_events")) == (
        10, recent_events)
    assert gati(db_url, "history", old.ids[0]).exit_code == 1
    assert gati(db_url, "history", recent.ids[0]).exit_code == 0


@pytest.mark.parametrize(("age", "days"), [("172800s", 2), ("2880m", 2), ("48h", 2), ("1d", 1)])
def test_prune_ages_take_s_m_h_and_d(db_url: str, age: str, days: int) -> None:
    now = datetime.now(UTC)
    _seed(db_url, now - timedelta(days=days, hours=3))
    result = gati(db_url, "history", "prune", "--older-than", age)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("deleted 10 requests")


@pytest.mark.parametrize("age", ["30", "30x", "d", "-1d", "0d", "1.5h", "30 days", ""])
def test_prune_refuses_a_bad_age_with_exit_2(db_url: str, seeded: Seeded, age: str) -> None:
    result = gati(db_url, "history", "prune", "--older-than", age)
    assert result.exit_code == 2
    assert "is not an age" in result.stderr or "Invalid value" in result.stderr
    assert _count(db_url, "requests") == 10


def test_prune_needs_an_age(db_url: str, seeded: Seeded) -> None:
    result = gati(db_url, "history", "prune")
    assert result.exit_code == 2
    assert "--older-than" in result.stderr
