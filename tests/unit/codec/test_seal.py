"""Sealed sensitive values: opened only by the same key for the same request."""

from __future__ import annotations

import base64
import os

import pytest

from gati.codec.seal import PREFIX, Sealer, Sensitive, mask, masker_for, parse_key
from gati.core.envelopes import RequestEnvelope
from gati.errors import ConfigError, RequestError

KEY = os.urandom(32)
SENSITIVE = Sensitive.from_settings("x-tenant-token", "password,card.number")


def _env(rid: str = "r1") -> RequestEnvelope:
    body = b'{"user":"ada","password":"pw-123456","card":{"number":"4111-1111"}}'
    return RequestEnvelope(
        rid,
        "g",
        "t",
        0,
        0,
        1,
        "POST",
        "/x",
        "",
        (
            ("authorization", "Bearer tok-abcdef"),
            ("x-tenant-token", "tt-99"),
            ("content-type", "application/json"),
            ("accept", "*/*"),
        ),
        body,
    )


def test_sealing_hides_every_sensitive_value_and_unsealing_restores_them() -> None:
    sealer = Sealer(KEY, SENSITIVE)
    sealed = sealer.seal(_env())
    raw = repr(sealed).encode() + sealed.body
    for secret in (b"tok-abcdef", b"tt-99", b"pw-123456", b"4111-1111"):
        assert secret not in raw
    assert dict(sealed.headers)["accept"] == "*/*"
    opened = sealer.unseal(sealed)
    assert opened.headers == _env().headers
    assert b'"password":"pw-123456"' in opened.body


def test_a_tampered_moved_or_foreign_value_is_refused() -> None:
    sealer = Sealer(KEY, SENSITIVE)
    value = sealer.seal_value("tok-abcdef", "r1")
    flipped = value[:-3] + ("A" if value[-3] != "A" else "B") + value[-2:]
    with pytest.raises(RequestError, match="could not be opened"):
        sealer.unseal_value(flipped, "r1")
    with pytest.raises(RequestError):
        sealer.unseal_value(value, "r2")  # bound to its request
    with pytest.raises(RequestError):
        Sealer(os.urandom(32), SENSITIVE).unseal_value(value, "r1")
    assert value.startswith(PREFIX)


def test_the_record_keeps_tokens_equal_for_equal_values_and_the_auth_scheme() -> None:
    sealer = Sealer(KEY, SENSITIVE)
    masker = masker_for(base64.urlsafe_b64encode(KEY).decode())
    stored = mask(sealer.seal(_env()), SENSITIVE, masker, sealer)
    auth = dict(stored.headers)["authorization"]
    assert auth.startswith("Bearer [REDACTED:") and "tok-abcdef" not in auth
    assert auth.removeprefix("Bearer ") == masker.mask("tok-abcdef")
    assert masker.mask("a-value") != masker.mask("b-value")
    assert b"pw-123456" not in stored.body


def test_a_bad_key_is_a_config_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="GATI_SEAL_KEY"):
        parse_key("not base64 at all!!")
    with pytest.raises(ConfigError, match="32 bytes"):
        parse_key(base64.urlsafe_b64encode(b"short").decode())


def test_a_body_too_deep_to_parse_has_no_sensitive_fields_and_raises_nothing() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    env = RequestEnvelope("r", "g", "t", 0, 0, 1, "POST", "/x", "",
                          (("content-type", "application/json"),), deep)
    assert Sensitive(fields=(("password",),)).values(env) == []
