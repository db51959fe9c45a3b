"""``gati manifest`` and ``gati schemas`` (with --register into a SQLite schema store)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gati.cli.main import cli
from gati.manifest import AppManifest

pytestmark = pytest.mark.timeout(60)
HERE = Path(__file__).parent
APP = "examples.typed_users.app:app"


def test_manifest_prints_or_writes_json(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(cli, ["manifest", APP])
    assert printed.exit_code == 0, printed.output
    manifest = AppManifest.from_json(json.loads(printed.output))
    assert manifest.app == "typed_users"
    out = tmp_path / "m" / "manifest.json"
    written = runner.invoke(cli, ["manifest", APP, "--out", str(out)])
    assert written.exit_code == 0
    assert AppManifest.from_json(json.loads(out.read_text())) == manifest


def test_schemas_writes_avsc_with_stable_names(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["schemas", APP, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "create_user.initial.request.avsc",
        "create_user.initial.response.avsc",
        "get_user.initial.response.avsc",
        "list_users.initial.response.avsc",
        "update_user.initial.request.avsc",
        "update_user.initial.response.avsc",
    ]
    schema = json.loads((tmp_path / "create_user.initial.request.avsc").read_text())
    assert (schema["namespace"], schema["name"]) == ("gati.app.typed_users.create_user",
                                                     "CreateUser")


def test_schemas_register_is_idempotent_and_refuses_a_breaking_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/g.db"
    monkeypatch.setenv("GATI_DATABASE_URL", url)
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    first = runner.invoke(cli, ["schemas", APP, "--out", str(tmp_path / "a"), "--register"])
    assert first.exit_code == 0, first.output
    assert "gati.app.typed_users.create_user.request@initial v1 id=" in first.output
    again = runner.invoke(cli, ["schemas", APP, "--out", str(tmp_path / "a"), "--register"])
    assert again.exit_code == 0
    assert sorted(again.output.splitlines()) == sorted(first.output.splitlines())
    # The seed's breaking change, v1 {name, email} -> v2 {firstName, lastName, email}, is
    # a new Timescape version: each version is its own subject, and the break is reported.
    versions = runner.invoke(cli, ["schemas", f"{HERE}/schema_versions.py:app", "--out",
                                   str(tmp_path / "b"), "--register"])
    assert versions.exit_code == 0, versions.output
    assert "gati.app.users.get_user.response@2024-01-01 v1" in versions.output
    assert "gati.app.users.get_user.response@2025-01-01 v1" in versions.output
    assert "2024-01-01 -> 2025-01-01: BREAKING" in versions.output
    assert "- $.name: removed" in versions.output
    assert "+ $.firstName: added" in versions.output
    # Editing the deployed 2025-01-01 in place so that its clients break is refused.
    edited = runner.invoke(cli, ["schemas", f"{HERE}/schema_versions_edited.py:app", "--out",
                                 str(tmp_path / "c"), "--register"])
    assert edited.exit_code == 1, edited.output
    assert "response@2025-01-01: 2025-01-01 REFUSED" in edited.output
    assert "BREAKING" in edited.output and "$.email" in edited.output
    # --mode none registers it anyway, as version 2 of that subject.
    forced = runner.invoke(cli, ["schemas", f"{HERE}/schema_versions_edited.py:app", "--out",
                                 str(tmp_path / "c"), "--register", "--mode", "none"])
    assert forced.exit_code == 0, forced.output
    assert "gati.app.users.get_user.response@2025-01-01 v2" in forced.output


def test_schemas_register_without_tables_says_to_migrate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATI_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    result = CliRunner().invoke(cli, ["schemas", APP, "--out", str(tmp_path), "--register"])
    assert result.exit_code == 2
    assert "gati migrate" in result.output
