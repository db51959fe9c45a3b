"""``gati playground`` refuses to serve the record beyond loopback without a token."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from gati.cli.main import cli


@pytest.mark.parametrize(("token", "message"), [
    (None, "only with a token: set GATI_PLAYGROUND_TOKEN"),
    ("short", "at least 16 characters"),
])
def test_beyond_loopback_needs_a_long_enough_token(
        monkeypatch: pytest.MonkeyPatch, token: str | None, message: str) -> None:
    monkeypatch.delenv("GATI_PLAYGROUND_TOKEN", raising=False)
    if token is not None:
        monkeypatch.setenv("GATI_PLAYGROUND_TOKEN", token)
    result = CliRunner().invoke(cli, ["playground", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2
    assert message in result.output
