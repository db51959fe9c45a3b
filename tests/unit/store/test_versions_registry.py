"""The Timescape registry on SQLite, and ``gati timescape`` over it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests_unit_helpers import typed_users_app

from gati.cli.main import cli
from gati.core.envelopes import LifecycleEvent, RequestEnvelope
from gati.core.timescape import HealthTracker
from gati.store import open_store
from gati.store.versions import CachedVersionState, TimescapeError, VersionRegistry


@pytest.fixture
async def registry(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path}/r.db", migrate_first=True)
    reg = VersionRegistry(store.engine)
    await reg.register(typed_users_app())
    yield reg
    await store.close()


async def test_register_lists_versions_with_breaking_verdicts(registry: VersionRegistry) -> None:
    rows = await registry.versions()
    assert [(r.version, r.code_tags, r.manifest["breaking"]) for r in rows] == [
        ("2024-01-01", ("v1",), False),
        ("2025-01-01", ("v2",), True),
    ]
    assert "name" in rows[1].manifest["assessment"]


async def test_tags_and_status_survive_re_registration(registry: VersionRegistry) -> None:
    hid = (await registry.versions())[0].handler_id
    await registry.tag(hid, "v2", "stable")
    await registry.set_status(hid, "v1", "inactive")
    await registry.register(typed_users_app())
    rows = {r.version: r for r in await registry.versions(hid)}
    assert rows["2025-01-01"].tags == ("stable",)
    assert rows["2024-01-01"].status == "inactive"
    state = CachedVersionState(registry)
    await state.refresh()
    assert state.inactive(hid) == {"2024-01-01"}
    assert state.tags(hid) == {"2025-01-01": {"stable"}}


async def test_deactivation_is_refused_for_protected_tags_and_recent_traffic(
    registry: VersionRegistry,
) -> None:
    hid = (await registry.versions())[0].handler_id
    await registry.tag(hid, "v2", "stable")
    with pytest.raises(TimescapeError, match="protected tag"):
        await registry.set_status(hid, "v2", "inactive")
    now = int(datetime.now(UTC).timestamp() * 1e6)
    from gati.store.store import Store

    store = Store(registry.engine)
    env = RequestEnvelope("r1", "g", "t", 0, now, now + 1, "GET", "/user", "", (), b"")
    routed = LifecycleEvent(
        "r1", 1, "routed", now, hid, detail=json.dumps({"version": "2024-01-01"})
    )
    await store.record([env], [routed])
    with pytest.raises(TimescapeError, match="served requests"):
        await registry.set_status(hid, "v1", "inactive")
    assert (await registry.set_status(hid, "v1", "inactive", force=True)).version == "2024-01-01"


async def test_tag_rules(registry: VersionRegistry) -> None:
    hid = (await registry.versions())[0].handler_id
    with pytest.raises(TimescapeError, match=r"declared in code|is on version"):
        await registry.tag(hid, "v2", "v1")
    await registry.tag(hid, "v1", "beta")
    with pytest.raises(TimescapeError, match="--move"):
        await registry.tag(hid, "v2", "beta")
    assert await registry.tag(hid, "v2", "beta", move=True) == "2025-01-01"
    with pytest.raises(TimescapeError, match="unknown handler"):
        await registry.tag("nope", "v1", "x")
    with pytest.raises(TimescapeError, match="no version or tag"):
        await registry.tag(hid, "v9", "x")


def test_cli_lists_diffs_and_reports_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/r.db"

    async def setup() -> str:
        store = await open_store(url, migrate_first=True)
        await VersionRegistry(store.engine).register(typed_users_app())
        await store.close()
        return next(iter(typed_users_app().families))

    hid = asyncio.run(setup())
    monkeypatch.setenv("GATI_DATABASE_URL", url)
    runner = CliRunner()
    listed = runner.invoke(cli, ["timescape", "list"])
    assert listed.exit_code == 0, listed.output
    assert "2024-01-01" in listed.output and "breaking" in listed.output
    diff = runner.invoke(cli, ["timescape", "diff", hid, "v1", "v2"])
    assert diff.exit_code == 1, diff.output
    assert "$.name" in diff.output and "firstName" in diff.output
    unknown = runner.invoke(cli, ["timescape", "deactivate", "no.such.handler", "v1"])
    assert unknown.exit_code == 2 and "unknown handler" in unknown.output


def test_health_tracker_trips_on_error_rate_and_recovers_after_cooldown() -> None:
    tracker = HealthTracker(window=10, min_requests=4, threshold=0.5, cooldown_us=1000)
    assert not any(tracker.observe("h", "v1", 200, t) for t in range(4))
    tripped = [tracker.observe("h", "v1", 500, 10 + t) for t in range(6)]
    assert tripped.count(True) == 1
    assert tracker.unhealthy("h", 20) == {"v1"}
    assert tracker.unhealthy("h", 5000) == set()
