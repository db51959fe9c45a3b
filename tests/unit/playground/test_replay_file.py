"""``gati replay --file``: an exported record replays on a machine without the store."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner

from gati.cli.main import cli
from gati.playground.records import export_document
from gati.store import open_store
from tests.unit.playground._seed import seed


def _export(tmp_path: Path) -> dict[str, Path]:
    async def go() -> dict[str, Path]:
        store = await open_store(f"sqlite+aiosqlite:///{tmp_path}/source.db", migrate_first=True)
        try:
            files = {}
            for name, rid in (await seed(store)).items():
                tl = await store.timeline(rid)
                assert tl is not None
                files[name] = tmp_path / f"{name}.json"
                files[name].write_text(json.dumps(export_document(tl)))
            return files
        finally:
            await store.close()

    return asyncio.run(go())


def test_an_exported_file_replays_offline(tmp_path: Path) -> None:
    files = _export(tmp_path)
    (tmp_path / "source.db").unlink()  # nothing left but the files
    runner = CliRunner()
    app = "tests.apps.playground_app:app"
    same = runner.invoke(cli, ["replay", "--file", str(files["order"]), "--app", app])
    assert same.exit_code == 0, same.output
    assert "identical" in same.output
    changed = runner.invoke(cli, ["replay", "--file", str(files["greet"]), "--app",
                                  "tests.apps.playground_app:changed", "--json"])
    assert changed.exit_code == 1, changed.output
    assert "$.greeting" in json.loads(changed.output)["divergence"]["message"]
    other = runner.invoke(cli, ["replay", "--file", str(files["user_v1"]), "--app", app,
                                "--version", "v2", "--raw"])
    assert other.exit_code == 1 and "replay 200 (version 2025-01-01)" in other.output


def test_bad_files_and_flags_exit_2_with_a_message(tmp_path: Path) -> None:
    runner = CliRunner()
    app = "tests.apps.playground_app:app"
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": "world"}')
    bad = runner.invoke(cli, ["replay", "--file", str(junk), "--app", app])
    assert bad.exit_code == 2 and "not a Gati record" in bad.output
    missing = runner.invoke(cli, ["replay", "--file", str(tmp_path / "nope.json"), "--app", app])
    assert missing.exit_code == 2 and "cannot read" in missing.output
    both = runner.invoke(cli, ["replay", "some-id", "--file", str(junk), "--app", app])
    assert both.exit_code == 2 and "no REQUEST_ID" in both.output
