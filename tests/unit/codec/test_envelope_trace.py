"""RequestEnvelope v5 (id 10) carries the gateway's trace context; older ones decode
without one, so a worker reading a v4 envelope starts no broken trace."""

from __future__ import annotations

import io
import json
import struct
from dataclasses import replace
from typing import Any

import fastavro

from gati.codec import EnvelopeCodec
from gati.codec.avro import schema_dir
from gati.core.envelopes import RequestEnvelope, TraceContext
from gati.policy import AuthOutcome, Principal

CODEC = EnvelopeCodec()
REQUEST = RequestEnvelope("r-1", "gw", "t", 0, 1_000, 2_000, "GET", "/x", "", (), b"")
PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_trace_context_round_trips_in_id_10() -> None:
    for trace in (TraceContext(PARENT, "congo=t61rcWkgMzE"), TraceContext(PARENT), None):
        env = replace(REQUEST, trace=trace, auth=AuthOutcome(Principal("ada", "jwt")))
        data = CODEC.encode_request(env)
        assert struct.unpack(">bI", data[:5]) == (0, 10)
        assert CODEC.decode_request(data) == env
        assert CODEC.decode_any(data) == env  # the recorder reads it too


def test_the_trace_id_is_the_traceparent_s_second_field() -> None:
    assert TraceContext(PARENT).trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert TraceContext("garbage").trace_id is None


def _written_by(schema_id: int, file: str, record: dict[str, Any]) -> bytes:
    directory = schema_dir()
    named: dict[str, Any] = {}
    fastavro.parse_schema(json.loads((directory / "Header.avsc").read_text()),
                          named_schemas=named)
    schema = fastavro.parse_schema(json.loads((directory / file).read_text()),
                                   named_schemas=named)
    out = io.BytesIO()
    out.write(struct.pack(">bI", 0, schema_id))
    fastavro.schemaless_writer(out, schema, record)
    return out.getvalue()


def test_a_v4_envelope_decodes_with_no_trace_and_keeps_its_principal() -> None:
    data = _written_by(9, "RequestEnvelope.v4.avsc", {
        "request_id": "r-old", "gateway_id": "gw", "reply_topic": "t", "reply_partition": 0,
        "received_at_us": 1, "deadline_at_us": 2, "method": "GET", "path": "/", "query": "",
        "headers": [{"name": "traceparent", "value": PARENT}], "body": b"", "client": None,
        "version_pref": None, "rejection": None, "body_schema": None, "accept_by_us": 7,
        "auth": {"principal": {"subject": "ada", "method": "jwt", "roles": [], "scopes": [],
                               "tenant": None}, "error": None, "message": None}})
    env = CODEC.decode_request(data)
    assert (env.request_id, env.accept_by_us, env.trace) == ("r-old", 7, None)
    assert env.auth is not None and env.auth.principal is not None
    assert env.auth.principal.subject == "ada"


def test_a_first_release_envelope_decodes_with_no_trace() -> None:
    data = _written_by(1, "RequestEnvelope.avsc", {
        "request_id": "r-v1", "gateway_id": "gw", "reply_topic": "t", "reply_partition": 0,
        "received_at_us": 1, "deadline_at_us": 2, "method": "GET", "path": "/", "query": "",
        "headers": [], "body": b"", "client": None, "version_pref": None, "rejection": None})
    assert CODEC.decode_request(data).trace is None
