"""Credentials in the query string are sealed, masked and scrubbed like headers."""

from __future__ import annotations

import os
from dataclasses import replace

from gati.codec.seal import Sealer, Sensitive, mask, masker_for
from gati.core.envelopes import RequestEnvelope
from gati.core.http import Request

KEY = os.urandom(32)
SENSITIVE = Sensitive.from_settings("", "", "tenant_key")
QUERY = "limit=5&access_token=zq9%2Babc%20def&Signature=s1g-99&tenant_key=tk-777&flag&x=1"


def _env(query: str = QUERY) -> RequestEnvelope:
    return RequestEnvelope("r1", "g", "t", 0, 0, 1, "GET", "/x", query,
                           (("authorization", "Bearer zq9+abc def"),), b"")


def test_sealed_query_hides_the_values_and_unseals_to_the_exact_string() -> None:
    sealer = Sealer(KEY, SENSITIVE)
    sealed = sealer.seal(_env())
    for secret in ("zq9", "s1g-99", "tk-777"):
        assert secret not in sealed.query, sealed.query
    assert sealed.query.startswith("limit=5&access_token=gati-sealed")
    assert sealed.query.endswith("&flag&x=1")
    assert sealer.unseal(sealed).query == QUERY


def test_the_record_gets_the_token_a_header_with_the_same_value_gets() -> None:
    masker = masker_for("", KEY)
    sealer = Sealer(KEY, SENSITIVE)
    recorded = mask(sealer.seal(_env()), SENSITIVE, masker, sealer)
    query = Request.from_envelope(recorded, {}).query
    header_token = dict(recorded.headers)["authorization"].removeprefix("Bearer ")
    assert query["access_token"] == [header_token]  # same value, same token
    assert query["Signature"][0].startswith("[REDACTED:")
    assert query["tenant_key"][0] != query["Signature"][0]
    assert query["limit"] == ["5"] and query["x"] == ["1"] and "flag" in query
    # Unsealed envelopes (no seal key) are masked the same way.
    assert mask(_env(), SENSITIVE, masker).query == recorded.query


def test_the_scrubber_knows_the_raw_and_the_decoded_value() -> None:
    values = set(SENSITIVE.values(_env()))
    assert {"zq9%2Babc%20def", "zq9+abc def", "s1g-99", "tk-777"} <= values
    assert "5" not in values


def test_a_query_without_sensitive_parameters_is_untouched() -> None:
    sealer = Sealer(KEY, SENSITIVE)
    env = replace(_env("a=1&b=%20two&&c"))
    assert sealer.seal(env).query == env.query
    assert mask(env, SENSITIVE).query == env.query
