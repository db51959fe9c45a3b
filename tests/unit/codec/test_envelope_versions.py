"""Envelope schema evolution: old writers still decode, and a new version of a named
record never changes how an earlier writer's schema reads."""

from __future__ import annotations

import io
import json
import struct
from dataclasses import replace
from pathlib import Path

import fastavro

from gati.codec import EnvelopeCodec
from gati.codec.avro import AvroCodec, SchemaRegistry, schema_dir
from gati.core.envelopes import RequestEnvelope

CODEC = EnvelopeCodec()
REQUEST = RequestEnvelope(
    request_id="r-1", gateway_id="gw", reply_topic="gati.replies.gw", reply_partition=0,
    received_at_us=1_000, deadline_at_us=2_000, method="POST", path="/users", query="",
    headers=(("content-type", "application/json"),), body=b'{"name":"Ada"}',
)


def _v1_message(record: dict[str, object]) -> bytes:
    """A RequestEnvelope exactly as a gateway of the first release wrote it (id 1)."""
    named: dict[str, object] = {}
    directory = schema_dir()
    fastavro.parse_schema(json.loads((directory / "Header.avsc").read_text()),
                          named_schemas=named)
    v1 = fastavro.parse_schema(
        json.loads((directory / "RequestEnvelope.avsc").read_text()), named_schemas=named)
    out = io.BytesIO()
    out.write(struct.pack(">bI", 0, 1))
    fastavro.schemaless_writer(out, v1, record)
    return out.getvalue()


def test_a_first_release_request_decodes_with_no_body_schema() -> None:
    data = _v1_message({
        "request_id": "r-old", "gateway_id": "gw", "reply_topic": "t", "reply_partition": 0,
        "received_at_us": 1, "deadline_at_us": 2, "method": "GET", "path": "/", "query": "",
        "headers": [{"name": "accept", "value": "*/*"}], "body": b"{}", "client": None,
        "version_pref": "v1", "rejection": None,
    })
    env = CODEC.decode_request(data)
    assert (env.request_id, env.version_pref, env.body, env.body_schema) == (
        "r-old", "v1", b"{}", None)
    assert CODEC.decode_any(data) == env  # the recorder reads it too


def test_new_requests_are_written_with_the_newest_schema_and_keep_body_schema() -> None:
    typed = replace(REQUEST, body=b"\x06Ada", body_schema=42)
    data = CODEC.encode_request(typed)
    assert struct.unpack(">bI", data[:5])[1] == max(CODEC.request_ids)
    assert CODEC.decode_request(data) == typed
    assert CODEC.decode_request(CODEC.encode_request(REQUEST)).body_schema is None


def test_a_later_version_of_a_shared_record_does_not_change_an_earlier_writer(
    tmp_path: Path,
) -> None:
    inner_v1 = {"type": "record", "name": "Inner", "namespace": "t",
                "fields": [{"name": "a", "type": "long"}]}
    outer = {"type": "record", "name": "Outer", "namespace": "t",
             "fields": [{"name": "inner", "type": "t.Inner"}, {"name": "tail", "type": "string"}]}
    # Inner v2 puts a field first: read through v2, v1's bytes would be misaligned.
    inner_v2 = {"type": "record", "name": "Inner", "namespace": "t",
                "fields": [{"name": "z", "type": "string", "default": ""},
                           {"name": "a", "type": "long"}]}
    files = {"inner1.avsc": inner_v1, "outer.avsc": outer, "inner2.avsc": inner_v2}
    for name, schema in files.items():
        (tmp_path / name).write_text(json.dumps(schema))
    (tmp_path / "registry.json").write_text(json.dumps({"schemas": [
        {"id": 1, "name": "t.Inner", "file": "inner1.avsc"},
        {"id": 2, "name": "t.Outer", "file": "outer.avsc"},
        {"id": 3, "name": "t.Inner", "file": "inner2.avsc"},
    ]}))
    codec = AvroCodec(SchemaRegistry.load(tmp_path))
    data = codec.encode("t.Outer", {"inner": {"a": 7}, "tail": "end"})
    assert codec.decode(data, frozenset({2})) == ("t.Outer", {"inner": {"a": 7}, "tail": "end"})
    newer = codec.encode("t.Inner", {"z": "x", "a": 1})
    assert struct.unpack(">bI", newer[:5])[1] == 3
    old_inner = io.BytesIO()
    old_inner.write(struct.pack(">bI", 0, 1))
    fastavro.schemaless_writer(old_inner, fastavro.parse_schema(inner_v1), {"a": 5})
    assert codec.decode(old_inner.getvalue(), frozenset({1, 3})) == ("t.Inner", {"z": "", "a": 5})
