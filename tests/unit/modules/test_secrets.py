"""Secrets: providers, caching, and values that never print or get recorded."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from gati.core.context import SecretNotFound, Secrets
from gati.core.ports import SystemClock
from gati.core.redact import MASK, Redactor, Secret
from gati.core.scope import RequestScope
from gati.modules.secrets import EnvSecrets, FileSecrets


def test_a_secret_never_prints_its_value() -> None:
    s = Secret("API_KEY", "hunter2-value")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s) and "hunter2" not in f"{s}"
    assert s.reveal() == "hunter2-value"
    with pytest.raises(TypeError):
        pickle.dumps(s)


def test_env_and_file_providers_in_order(tmp_path: Path) -> None:
    (tmp_path / "DB_PASSWORD").write_text("from-file\n")
    redactor = Redactor()
    secrets = Secrets([EnvSecrets({"API_KEY": "from-env"}), FileSecrets(tmp_path)], redactor)
    assert secrets.get("API_KEY").reveal() == "from-env"
    assert secrets.get("DB_PASSWORD").reveal() == "from-file"
    with pytest.raises(SecretNotFound, match="'MISSING'"):
        secrets.get("MISSING")


def test_file_provider_cannot_leave_its_directory(tmp_path: Path) -> None:
    inner = tmp_path / "secrets"
    inner.mkdir()
    (tmp_path / "outside").write_text("nope")
    assert FileSecrets(inner).lookup("../outside") is None


def test_cache_holds_for_its_ttl_then_rereads(tmp_path: Path) -> None:
    (tmp_path / "K").write_text("one")
    clock = [0.0]
    provider = FileSecrets(tmp_path, ttl_s=10)
    provider._now = lambda: clock[0]
    assert provider.lookup("K") == "one"
    (tmp_path / "K").write_text("two")
    clock[0] = 5
    assert provider.lookup("K") == "one"
    clock[0] = 11
    assert provider.lookup("K") == "two"


def test_everything_recorded_is_scrubbed_of_read_secrets() -> None:
    redactor = Redactor()
    Secrets([EnvSecrets({"TOKEN": "s3cr3t-token-value"})], redactor).get("TOKEN")
    scope = RequestScope("r", SystemClock(), redactor)
    event = scope.record(
        "log",
        detail={
            "msg": "sending s3cr3t-token-value to the api",
            "nested": [{"t": "s3cr3t-token-value"}],
        },
    )
    assert event.detail is not None and "s3cr3t" not in event.detail
    assert json.loads(event.detail)["nested"][0]["t"] == MASK


def test_short_values_are_not_registered_to_avoid_masking_everything() -> None:
    redactor = Redactor()
    redactor.register("ab")
    assert not redactor.active and redactor.scrub("abc") == "abc"
