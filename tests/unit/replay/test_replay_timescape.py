"""``gati replay --version V`` serves the recorded request to V through Timescape.

The way the live system serves a client pinned to the version it asked for when that
version cannot serve: its request up the transformer chain, V's handler, the response
back down, then compared with what the client got. ``--raw`` hands the recorded request
to V untransformed (the behaviour before Timescape replay).

The users example's records come from ``tests/golden/users-v1.json`` (v1 is
2025-01-01, v2 2025-06-01); the greet app of ``tests/apps/timescape_app.py`` has three
versions whose transformers are lossless, so a v1 request served by v3 is identical.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from gati.cli.loader import load_app
from gati.cli.main import cli
from gati.core.context import Services
from gati.core.envelopes import RequestEnvelope
from gati.core.pipeline import Pipeline
from gati.core.ports import SystemClock
from gati.replay import Replayer, ReplayError
from gati.store import Store, open_store

pytestmark = pytest.mark.timeout(60)

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "users-v1.json"
USERS = "examples.users.app:app"
V1, V2 = "2025-01-01", "2025-06-01"


def _rows(golden: dict[str, Any], name: str) -> list[dict[str, Any]]:
    kinds: dict[str, str] = golden["column_types"][name]

    def value(kind: str, v: Any) -> Any:
        if v is None:
            return None
        if kind == "datetime":
            at = datetime.fromisoformat(v)
            return at if at.tzinfo else at.replace(tzinfo=UTC)
        return base64.b64decode(v) if kind == "bytes" else v

    return [{c: value(kinds[c], v) for c, v in row.items()} for row in golden["tables"][name]]


async def _golden_db(url: str) -> dict[str, str]:
    """The golden users records in a fresh store at ``url``; ids by what was sent."""
    golden = json.loads(GOLDEN.read_text())
    store = await open_store(url, migrate_first=True)
    meta = sa.MetaData()
    async with store.engine.begin() as conn:
        await conn.run_sync(lambda s: meta.reflect(s, only=["requests", "lifecycle_events"]))
        for name in ("requests", "lifecycle_events"):
            await conn.execute(meta.tables[name].insert(), _rows(golden, name))
    await store.close()
    received = sorted(golden["tables"]["requests"], key=lambda r: r["received_at"])
    return {sent["what"]: row["request_id"] for sent, row in zip(golden["sent"], received,
                                                                 strict=True)}


@pytest.fixture
async def users(tmp_path: Path) -> AsyncIterator[tuple[Store, dict[str, str]]]:
    url = f"sqlite+aiosqlite:///{tmp_path}/golden.db"
    ids = await _golden_db(url)
    store = await open_store(url)
    try:
        yield store, ids
    finally:
        await store.close()


async def test_a_v1_create_replayed_on_v2_goes_through_the_transformers(
    users: tuple[Store, dict[str, str]],
) -> None:
    store, ids = users
    replayer = Replayer(app=load_app(USERS), engine=store.engine, version="v2")
    result = await replayer.replay(ids["create v1"])
    # The v1 body {"name": "Ada Lovelace", ...} was split by the transformer: v2 ran and
    # made its own call, which is the real difference, not a 400 validation_failed.
    assert result.replayed_version == V2 and result.recorded_version == V1
    assert "transform request 2025-01-01->2025-06-01" in result.replayed_trace
    assert result.divergence is not None and result.divergence.kind == "effect"
    assert "replay called db.insert_person('Ada', 'Lovelace', 'ada@example.com')" in \
        result.divergence.message
    assert b"validation_failed" not in result.replayed_body


async def test_raw_hands_the_v1_body_to_v2_untransformed(
    users: tuple[Store, dict[str, str]],
) -> None:
    store, ids = users
    replayer = Replayer(app=load_app(USERS), engine=store.engine, version="v2", raw=True)
    result = await replayer.replay(ids["create v1"])
    assert result.replayed_status == 400 and b"validation_failed" in result.replayed_body
    assert result.divergence is not None
    assert result.divergence.message == "response status differs: recorded 201, replay 400"
    assert not any(s.startswith("transform") for s in result.replayed_trace)


async def test_the_served_version_again_is_identical_and_older_versions_are_refused(
    users: tuple[Store, dict[str, str]],
) -> None:
    store, ids = users
    app = load_app(USERS)
    same = await Replayer(app=app, engine=store.engine, version="v2").replay(ids["create v2"])
    assert same.identical, same.divergence
    older = await Replayer(app=app, engine=store.engine, version="v1").replay(ids["create v2"])
    assert older.error is not None and "older than 2025-06-01" in older.error
    assert "--raw" in older.error
    raw = await Replayer(app=app, engine=store.engine, version="v1",
                         raw=True).replay(ids["create v2"])
    assert raw.error is None and raw.replayed_version == V1


def test_raw_needs_a_version() -> None:
    with pytest.raises(ReplayError, match="--raw applies"):
        Replayer(app=load_app(USERS), engine=sa_engine(), raw=True)


def sa_engine() -> Any:
    from gati.store import create_engine

    return create_engine("sqlite+aiosqlite:///:memory:")


def _cli(url: str, *args: str) -> Any:
    return CliRunner().invoke(cli, ["replay", *args, "--app", USERS],
                              env={"GATI_DATABASE_URL": url})


def test_cli_one_request_and_a_window_against_v2(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/golden.db"
    ids = asyncio.run(_golden_db(url))
    one = _cli(url, ids["create v1"], "--version", "v2")
    assert one.exit_code == 1, one.output
    assert "recorded 201 (version 2025-01-01), replay 500 (version 2025-06-01)" in one.output
    assert "replay called db.insert_person('Ada', 'Lovelace'" in one.output

    window = _cli(url, "--since", "2000-01-01", "--version", "v2")
    assert window.exit_code == 1, window.output
    assert "replayed 22 requests" in window.output and "0 failed" in window.output
    assert "validation_failed" not in window.output
    assert f"DIVERGED {ids['create v1']}: effect 2 (step 7): recorded db.insert_user(" \
        in window.output

    raw = _cli(url, "--since", "2000-01-01", "--version", "v2", "--raw")
    assert f"DIVERGED {ids['create v1']}: response status differs: recorded 201, replay 400" \
        in raw.output
    # Raw is the comparison as it was: the routed version is a difference too.
    assert f"DIVERGED {ids['create malformed json']}: step 1: recorded 'routed 2025-01-01', " \
        "replay 'routed 2025-06-01'" in raw.output
    assert _cli(url, ids["create v1"], "--raw").exit_code == 2


async def _record_greet(url: str) -> str:
    app = load_app("tests/apps/timescape_app.py:app")
    store = await open_store(url, migrate_first=True)
    now = SystemClock().now_us()
    env = RequestEnvelope("greet-v1", "g", "t", 0, now, now + 5_000_000, "POST", "/greet", "",
                          (("content-type", "application/json"),), b'{"name": "Ada"}',
                          version_pref="v1")
    outcome = await Pipeline(app, Services(modules={}, config={}),
                             clock=SystemClock()).process(env)
    await store.record([env], list(outcome.events))
    await store.close()
    return env.request_id


async def test_lossless_transformers_replay_identically_two_versions_up(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/greet.db"
    rid = await _record_greet(url)
    store = await open_store(url)
    try:
        app = load_app("tests/apps/timescape_app.py:app")
        result = await Replayer(app=app, engine=store.engine, version="v3").replay(rid)
        assert result.identical, result.divergence
        assert result.replayed_version == "2025-01-01"
        assert [s for s in result.replayed_trace if s.startswith("transform")] == [
            "transform request 2024-01-01->2024-06-01",
            "transform request 2024-06-01->2025-01-01",
            "transform response 2025-01-01->2024-06-01",
            "transform response 2024-06-01->2024-01-01",
        ]
        raw = await Replayer(app=app, engine=store.engine, version="v3",
                             raw=True).replay(rid)
        assert raw.replayed_status == 400  # {"name"} is not a v3 request
    finally:
        await store.close()
