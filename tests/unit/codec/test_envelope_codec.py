"""EnvelopeCodec: every envelope survives encode -> decode unchanged."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gati.codec import EnvelopeCodec
from gati.core.envelopes import LifecycleEvent, Rejection, RequestEnvelope, ResponseEnvelope

CODEC = EnvelopeCodec()

INT32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
TEXT = st.text(max_size=40)
HEADERS = st.lists(st.tuples(TEXT, TEXT), max_size=5).map(tuple)
BODY = st.binary(max_size=300)

REJECTIONS = st.builds(Rejection, status=INT32, code=TEXT, message=TEXT)

REQUESTS = st.builds(
    RequestEnvelope,
    request_id=TEXT, gateway_id=TEXT, reply_topic=TEXT, reply_partition=INT32,
    received_at_us=INT64, deadline_at_us=INT64, method=TEXT, path=TEXT, query=TEXT,
    headers=HEADERS, body=BODY, client=st.none() | TEXT, version_pref=st.none() | TEXT,
    rejection=st.none() | REJECTIONS,
)

RESPONSES = st.builds(
    ResponseEnvelope,
    request_id=TEXT, status=INT32, headers=HEADERS, body=BODY, completed_at_us=INT64,
    handler_id=st.none() | TEXT,
)

EVENTS = st.builds(
    LifecycleEvent,
    request_id=TEXT, seq=INT32, stage=TEXT, at_us=INT64, handler_id=st.none() | TEXT,
    status=st.none() | INT32, error_code=st.none() | TEXT, detail=st.none() | TEXT,
    worker_id=st.none() | TEXT,
)


@settings(max_examples=150, deadline=None)
@given(env=REQUESTS)
def test_request_envelope_round_trips(env: RequestEnvelope) -> None:
    assert CODEC.decode_request(CODEC.encode_request(env)) == env
    assert CODEC.decode_any(CODEC.encode_request(env)) == env


def test_request_envelope_round_trips_with_and_without_rejection() -> None:
    base = RequestEnvelope(
        request_id="0190c2a0-0000-7000-8000-000000000001", gateway_id="gw-1",
        reply_topic="gati.replies.gw-1", reply_partition=3, received_at_us=1, deadline_at_us=2,
        method="POST", path="/users", query="a=1&a=2",
        headers=(("content-type", "application/json"), ("x-a", "1"), ("x-a", "2")),
        body=b'{"name":"Ada"}', client="127.0.0.1:5000", version_pref="2",
    )
    rejected = RequestEnvelope(**{**_fields(base), "rejection": Rejection(413, "too_large", "big")})

    for env in (base, rejected):
        decoded = CODEC.decode_request(CODEC.encode_request(env))
        assert decoded == env
    assert CODEC.decode_request(CODEC.encode_request(rejected)).rejection == Rejection(
        413, "too_large", "big"
    )
    assert CODEC.decode_request(CODEC.encode_request(base)).rejection is None


@settings(max_examples=150, deadline=None)
@given(env=RESPONSES)
def test_response_envelope_round_trips(env: ResponseEnvelope) -> None:
    assert CODEC.decode_response(CODEC.encode_response(env)) == env


@settings(max_examples=150, deadline=None)
@given(ev=EVENTS)
def test_lifecycle_event_round_trips(ev: LifecycleEvent) -> None:
    assert CODEC.decode_event(CODEC.encode_event(ev)) == ev
    assert CODEC.decode_any(CODEC.encode_event(ev)) == [ev]


@settings(max_examples=100, deadline=None)
@given(events=st.lists(EVENTS, max_size=30))
def test_a_lifecycle_batch_decodes_to_its_events_in_order(events: list[LifecycleEvent]) -> None:
    assert CODEC.decode_any(CODEC.encode_batch("r", events)) == events


def _fields(env: RequestEnvelope) -> dict[str, object]:
    return {name: getattr(env, name) for name in RequestEnvelope.__slots__}
