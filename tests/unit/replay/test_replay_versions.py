"""gati replay --version --raw: the same recorded request handed to another version, diffed.

(Without --raw the request goes through the transformers: test_replay_timescape.py.)
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from gati.cli.main import cli
from gati.core.context import Services
from gati.core.envelopes import RequestEnvelope
from gati.core.pipeline import Pipeline
from gati.core.ports import SystemClock
from gati.store import open_store

APP = "tests/unit/tests_unit_helpers.py:typed_users_app_with_transformers_app"


def _record(url: str) -> str:
    from tests_unit_helpers import typed_users_app

    async def go() -> str:
        store = await open_store(url, migrate_first=True)
        app = typed_users_app(transformers=True)
        now = SystemClock().now_us()
        env = RequestEnvelope("v1-req", "g", "t", 0, now, now + 5_000_000, "GET", "/user", "",
                              (), b"", version_pref="v1")
        outcome = await Pipeline(app, Services(modules={}, config={}),
                                 clock=SystemClock()).process(env)
        await store.record([env], list(outcome.events))
        await store.close()
        return env.request_id

    return asyncio.run(go())


def test_replay_against_v2_shows_the_response_and_trace_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/r.db"
    rid = _record(url)
    monkeypatch.setenv("GATI_DATABASE_URL", url)
    runner = CliRunner()
    same = runner.invoke(cli, ["replay", rid, "--app", APP])
    assert same.exit_code == 0, same.output
    assert "identical" in same.output

    other = runner.invoke(cli, ["replay", rid, "--app", APP, "--version", "v2", "--raw"])
    assert other.exit_code == 1, other.output
    assert "version 2024-01-01), replay 200 (version 2025-01-01)" in other.output
    assert "response body differs at $.firstName" in other.output
    assert "routed 2024-01-01" in other.output and "routed 2025-01-01" in other.output
    assert '"name":"Ada Lovelace"' in other.output and '"firstName":"Ada"' in other.output

    as_json = runner.invoke(cli, ["replay", rid, "--app", APP, "--version", "v2", "--raw",
                                     "--json"])
    assert as_json.exit_code == 1
    assert '"identical": false' in as_json.output


def test_bad_arguments_exit_2_with_a_message(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATI_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/r.db")
    _record(f"sqlite+aiosqlite:///{tmp_path}/r.db")
    runner = CliRunner()
    assert runner.invoke(cli, ["replay", "x"]).exit_code == 2  # no app
    unknown = runner.invoke(cli, ["replay", "nope", "--app", APP])
    assert unknown.exit_code == 2 and "no recorded request" in unknown.output
    both = runner.invoke(cli, ["replay", "x", "--since", "1h", "--app", APP])
    assert both.exit_code == 2
    bad_since = runner.invoke(cli, ["replay", "--since", "yesterdayish", "--app", APP])
    assert bad_since.exit_code == 2 and "not an ISO date-time" in bad_since.output
