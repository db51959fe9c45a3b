"""RequestEnvelope v3 (id 8) carries the gateway's give-up time, ``accept_by_us``.

Workers compare it with the broker's append time to refuse a request its gateway has
already answered 503 (issue 11). Envelopes of gateways that predate it (ids 1 and 7)
must still decode, with no give-up time, so a rolling upgrade never strands the log.
"""

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

CODEC = EnvelopeCodec()
REQUEST = RequestEnvelope(
    request_id="r-1", gateway_id="gw", reply_topic="gati.replies.gw", reply_partition=0,
    received_at_us=1_000, deadline_at_us=30_001_000, method="POST", path="/users", query="",
    headers=(("content-type", "application/json"),), body=b'{"name":"Ada"}',
)
V1_RECORD: dict[str, Any] = {
    "request_id": "r-old", "gateway_id": "gw", "reply_topic": "t", "reply_partition": 0,
    "received_at_us": 1, "deadline_at_us": 2, "method": "GET", "path": "/", "query": "",
    "headers": [{"name": "accept", "value": "*/*"}], "body": b"{}", "client": None,
    "version_pref": "v1", "rejection": None,
}


def _written_by(schema_id: int, file: str, record: dict[str, Any]) -> bytes:
    """A RequestEnvelope exactly as a gateway writing schema ``file`` framed it."""
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


def test_id_8_is_a_request_envelope_and_new_gateways_write_a_later_one() -> None:
    assert {1, 7, 8} <= CODEC.request_ids
    data = CODEC.encode_request(replace(REQUEST, accept_by_us=5_001_000))
    # Ids 9 (issue 18: the principal) and 10 (issue 15: the trace context) carry
    # accept_by_us as id 8 does.
    assert struct.unpack(">bI", data[:5]) == (0, 10)


def test_accept_by_round_trips_and_stays_null_when_unset() -> None:
    env = replace(REQUEST, accept_by_us=5_001_000, body_schema=42)
    assert CODEC.decode_request(CODEC.encode_request(env)) == env
    assert CODEC.decode_any(CODEC.encode_request(env)) == env  # the recorder's reader
    assert CODEC.decode_request(CODEC.encode_request(REQUEST)).accept_by_us is None


def test_a_first_release_envelope_decodes_with_no_give_up_time() -> None:
    env = CODEC.decode_request(_written_by(1, "RequestEnvelope.avsc", V1_RECORD))
    assert (env.request_id, env.version_pref, env.body_schema, env.accept_by_us) == (
        "r-old", "v1", None, None)


def test_a_v2_envelope_keeps_its_body_schema_and_has_no_give_up_time() -> None:
    data = _written_by(7, "RequestEnvelope.v2.avsc", {**V1_RECORD, "body_schema": 9})
    env = CODEC.decode_request(data)
    assert (env.request_id, env.body_schema, env.accept_by_us) == ("r-old", 9, None)
    assert CODEC.decode_any(data) == env
