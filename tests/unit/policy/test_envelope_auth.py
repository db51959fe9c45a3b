"""RequestEnvelope v4 (id 9) carries the principal; older envelopes decode without one."""

from __future__ import annotations

import io
import json
import struct
from dataclasses import replace
from typing import Any

import fastavro

from gati.codec import EnvelopeCodec
from gati.codec.avro import schema_dir
from gati.core.envelopes import RequestEnvelope
from gati.policy import AuthOutcome, Principal

CODEC = EnvelopeCodec()
REQUEST = RequestEnvelope("r-1", "gw", "t", 0, 1_000, 2_000, "GET", "/x", "", (), b"")


def test_a_principal_and_a_refusal_round_trip() -> None:
    ada = AuthOutcome(Principal("ada", "jwt", ("admin", "ops"), ("read",), "acme"))
    refused = AuthOutcome(None, "token_expired", "the token has expired")
    for auth in (ada, refused, None):
        env = replace(REQUEST, auth=auth, accept_by_us=1_500)
        data = CODEC.encode_request(env)
        assert struct.unpack(">bI", data[:5]) == (0, 10)  # v5 (the trace) keeps auth
        assert CODEC.decode_request(data) == env
        assert CODEC.decode_any(data) == env


def test_a_v3_envelope_decodes_with_no_principal() -> None:
    directory = schema_dir()
    named: dict[str, Any] = {}
    fastavro.parse_schema(json.loads((directory / "Header.avsc").read_text()),
                          named_schemas=named)
    schema = fastavro.parse_schema(
        json.loads((directory / "RequestEnvelope.v3.avsc").read_text()), named_schemas=named)
    out = io.BytesIO()
    out.write(struct.pack(">bI", 0, 8))
    fastavro.schemaless_writer(out, schema, {
        "request_id": "r-old", "gateway_id": "gw", "reply_topic": "t", "reply_partition": 0,
        "received_at_us": 1, "deadline_at_us": 2, "method": "GET", "path": "/", "query": "",
        "headers": [], "body": b"", "client": None, "version_pref": None, "rejection": None,
        "body_schema": None, "accept_by_us": 7})
    env = CODEC.decode_request(out.getvalue())
    assert (env.request_id, env.accept_by_us, env.auth) == ("r-old", 7, None)
