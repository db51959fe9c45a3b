"""The registry's frame schemas decode what Gati's codec writes, by the ids frames carry."""

from __future__ import annotations

import io
import json

import fastavro
import pytest

from gati.codec.avro import default_registry
from gati.codec.envelopes import EnvelopeCodec
from gati.config import Settings
from gati.core.envelopes import LifecycleEvent, RequestEnvelope
from gati.registry import load_frames


def _event(seq: int) -> LifecycleEvent:
    return LifecycleEvent(request_id="r1", seq=seq, stage="received", at_us=1_000 + seq,
                          detail=json.dumps({"n": seq}))


def _decode_as_a_stranger(data: bytes) -> dict[str, object]:
    """What any registry client does: the id from the frame, the schema from the registry."""
    assert data[0] == 0
    schema_id = int.from_bytes(data[1:5], "big")
    text = load_frames(Settings()).by_id[schema_id].text
    record = fastavro.schemaless_reader(io.BytesIO(data[5:]), fastavro.parse_schema(
        json.loads(text)), None)
    assert isinstance(record, dict)
    return record


def test_every_frame_id_of_the_codec_is_served_with_its_record_name() -> None:
    codec_ids = {i: s.name for i, s in default_registry()._by_id.items()}
    served = {i: f.name for i, f in load_frames(Settings()).by_id.items()}
    assert served == codec_ids


def test_a_request_envelope_decodes_with_the_served_schema() -> None:
    env = RequestEnvelope(request_id="r1", gateway_id="g", reply_topic="gati.replies.g",
                          reply_partition=0, received_at_us=1, deadline_at_us=2,
                          method="POST", path="/users", query="", headers=(("a", "b"),),
                          body=b"{}")
    record = _decode_as_a_stranger(EnvelopeCodec().encode_request(env))
    assert (record["request_id"], record["path"], record["headers"]) == (
        "r1", "/users", [{"name": "a", "value": "b"}])


def test_a_lifecycle_batch_decodes_with_its_events_inlined() -> None:
    data = EnvelopeCodec().encode_batch("r1", [_event(1), _event(2)])
    record = _decode_as_a_stranger(data)
    assert [e["seq"] for e in record["events"]] == [1, 2]  # type: ignore[attr-defined]


@pytest.mark.parametrize("prefix", ["gati", "acme.prod"])
def test_topic_subjects_follow_the_topic_prefix(prefix: str) -> None:
    subjects = load_frames(Settings(topic_prefix=prefix)).subjects
    assert subjects[f"{prefix}.requests-value"] == (1, 7, 8, 9, 10)
    assert subjects[f"{prefix}.lifecycle-value"] == (3, 6)
