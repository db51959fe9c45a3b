"""Every ``$ gati ...`` line in docs/contracts.md and docs/manifest-format.md runs as written.

Commands run in order, per page, in a fresh directory (the pages write to ``build/``);
``NAME=value`` prefixes become the environment. Lines right after a command, up to the
next command or the end of the block, are its expected output.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from gati.cli.main import cli

pytestmark = pytest.mark.timeout(120)
DOCS = Path(__file__).resolve().parents[3] / "docs"
CONSOLE = re.compile(r"^```console\n(.*?)^```$", re.S | re.M)
ASSIGNMENT = re.compile(r"^([A-Z_][A-Z0-9_]*)=(.*)$")


@dataclass
class Command:
    line: str
    expected: list[str] = field(default_factory=list)


def commands(page: str) -> list[Command]:
    found: list[Command] = []
    for block in CONSOLE.findall((DOCS / page).read_text()):
        for text in block.splitlines():
            if text.startswith("$ "):
                found.append(Command(text[2:]))
            elif found and text.strip():
                found[-1].expected.append(text)
    return found


@pytest.mark.parametrize("page", ["contracts.md", "manifest-format.md"])
def test_commands_in_the_docs_work_as_written(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    found = commands(page)
    assert found, f"no commands in {page}"
    runner = CliRunner()
    for command in found:
        words = shlex.split(command.line)
        env: dict[str, str | None] = {}
        while words and ASSIGNMENT.match(words[0]):
            name, value = ASSIGNMENT.match(words.pop(0)).groups()  # type: ignore[union-attr]
            env[name] = value
        assert words[0] == "gati", command.line
        result = runner.invoke(cli, words[1:], env=env)
        assert result.exit_code == 0, f"{command.line}\n{result.output}"
        if command.expected:
            assert result.stdout.splitlines() == command.expected, command.line
    if page == "contracts.md":
        build = tmp_path / "build"
        assert (build / "manifest.json").exists() and (build / "openapi.json").exists()
        assert (build / "avro" / "create_user.initial.request.avsc").exists()
        assert (build / "typed_users_client" / "client.py").exists()
        assert (build / "ts" / "client.ts").exists()
