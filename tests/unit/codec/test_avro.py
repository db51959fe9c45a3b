"""Wire framing (magic byte, schema id) and refusal of bytes we do not accept."""

from __future__ import annotations

import contextlib
import json
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gati.codec import AvroCodec, EnvelopeCodec, default_registry
from gati.codec.avro import RegisteredSchema, SchemaRegistry, schema_dir
from gati.core.envelopes import LifecycleEvent, RequestEnvelope, ResponseEnvelope
from gati.errors import CodecError

CODEC = EnvelopeCodec()
REGISTRY_JSON = Path(__file__).resolve().parents[3] / "schemas" / "avro" / "registry.json"

REQUEST = RequestEnvelope(
    request_id="r-1", gateway_id="gw", reply_topic="gati.replies.gw", reply_partition=0,
    received_at_us=1_000, deadline_at_us=2_000, method="GET", path="/users/1", query="",
    headers=(("accept", "application/json"),), body=b"",
)
RESPONSE = ResponseEnvelope(
    request_id="r-1", status=200, headers=(("content-type", "application/json"),),
    body=b'{"id":1}', completed_at_us=1_500, handler_id="users.get",
)
EVENT = LifecycleEvent(
    request_id="r-1", seq=4, stage="responded", at_us=1_500, handler_id="users.get", status=200,
    worker_id="wk-1",
)


def _registry_ids() -> dict[str, int]:
    index = json.loads(REGISTRY_JSON.read_text())
    return {item["name"]: int(item["id"]) for item in index["schemas"]}


def test_schema_ids_in_registry_json_are_unique() -> None:
    index = json.loads(REGISTRY_JSON.read_text())
    ids = [int(item["id"]) for item in index["schemas"]]
    assert len(ids) == len(set(ids)), f"duplicate schema ids in registry.json: {ids}"


def test_golden_schema_ids_are_never_renumbered() -> None:
    # These ids are in every message ever written; changing one orphans the whole log.
    index = json.loads(REGISTRY_JSON.read_text())
    by_id = {int(item["id"]): item["name"] for item in index["schemas"]}
    assert {i: by_id.get(i) for i in (1, 2, 3, 4)} == {
        1: "gati.RequestEnvelope",
        2: "gati.ResponseEnvelope",
        3: "gati.LifecycleEvent",
        4: "gati.DeadLetter",
    }


def test_the_codec_loads_the_checked_in_registry() -> None:
    assert schema_dir().resolve() == REGISTRY_JSON.parent


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("gati.RequestEnvelope", CODEC.encode_request(REQUEST)),
        ("gati.ResponseEnvelope", CODEC.encode_response(RESPONSE)),
        ("gati.LifecycleEvent", CODEC.encode_event(EVENT)),
    ],
)
def test_every_message_starts_with_magic_zero_and_its_registry_id(name: str, data: bytes) -> None:
    magic, schema_id = struct.unpack(">BI", data[:5])
    assert magic == 0
    assert schema_id == _registry_ids()[name]


@pytest.mark.parametrize(
    ("decode", "data"),
    [
        (CODEC.decode_request, CODEC.encode_response(RESPONSE)),
        (CODEC.decode_request, CODEC.encode_event(EVENT)),
        (CODEC.decode_response, CODEC.encode_request(REQUEST)),
        (CODEC.decode_event, CODEC.encode_response(RESPONSE)),
        (CODEC.decode_any, CODEC.encode_response(RESPONSE)),
    ],
    ids=["response-as-request", "event-as-request", "request-as-response", "response-as-event",
         "response-to-recorder"],
)
def test_decode_refuses_a_schema_not_allowed_here(decode, data: bytes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CodecError):
        decode(data)


def test_decode_refuses_a_wrong_magic_byte() -> None:
    data = bytearray(CODEC.encode_request(REQUEST))
    data[0] = 1
    with pytest.raises(CodecError, match="magic"):
        CODEC.decode_request(bytes(data))


def test_decode_refuses_an_unknown_schema_id() -> None:
    data = b"\x00" + (999).to_bytes(4, "big") + CODEC.encode_request(REQUEST)[5:]
    with pytest.raises(CodecError, match="999"):
        CODEC.codec.decode(data, frozenset({999}))


@pytest.mark.parametrize("keep", [0, 1, 4, 5, 6, 10, -1])
def test_decode_refuses_a_truncated_message(keep: int) -> None:
    data = CODEC.encode_request(REQUEST)
    with pytest.raises(CodecError):
        CODEC.decode_request(data[:keep])


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(min_value=0))
def test_decode_refuses_any_truncation_of_an_event(cut: int) -> None:
    data = CODEC.encode_event(EVENT)
    with pytest.raises(CodecError):
        CODEC.decode_event(data[: cut % len(data)])


@pytest.mark.parametrize("extra", [b"\x00", b"garbage"])
def test_decode_refuses_trailing_garbage(extra: bytes) -> None:
    with pytest.raises(CodecError, match="trailing"):
        CODEC.decode_response(CODEC.encode_response(RESPONSE) + extra)


def test_decode_refuses_an_oversized_message() -> None:
    small = EnvelopeCodec(AvroCodec(default_registry(), max_message_bytes=100))
    big = ResponseEnvelope(request_id="r", status=200, headers=(), body=b"x" * 200,
                           completed_at_us=1)
    with pytest.raises(CodecError, match="over 100"):
        small.decode_response(CODEC.encode_response(big))
    # A message under the cap is still accepted by the same codec.
    ok = ResponseEnvelope(request_id="r", status=200, headers=(), body=b"x", completed_at_us=1)
    assert small.decode_response(small.encode_response(ok)) == ok


def test_encoding_a_value_the_schema_cannot_hold_is_a_codec_error() -> None:
    missing_id = LifecycleEvent(request_id=None, seq=0, stage="received", at_us=1)  # type: ignore[arg-type]
    with pytest.raises(CodecError, match="request_id"):
        CODEC.encode_event(missing_id)


DECODERS = [CODEC.decode_request, CODEC.decode_response, CODEC.decode_event, CODEC.decode_any]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200))
def test_random_bytes_only_ever_raise_codec_error(data: bytes) -> None:
    for decode in DECODERS:
        with contextlib.suppress(CodecError):
            decode(data)


@settings(max_examples=300, deadline=None)
@given(schema_id=st.sampled_from([1, 2, 3]), body=st.binary(max_size=200))
def test_random_bodies_behind_a_valid_header_only_ever_raise_codec_error(
    schema_id: int, body: bytes
) -> None:
    data = b"\x00" + schema_id.to_bytes(4, "big") + body
    for decode in DECODERS:
        with contextlib.suppress(CodecError):
            decode(data)


def test_a_registry_refuses_a_duplicate_schema_id() -> None:
    reg = default_registry()
    one = reg.by_id(1)
    with pytest.raises(CodecError, match="registered twice"):
        SchemaRegistry([one, RegisteredSchema(1, "gati.Other", one.parsed)])
