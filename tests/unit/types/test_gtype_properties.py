"""Properties over random GTypes: validator and Avro codec agree; JSON round-trips."""

from __future__ import annotations

import json
from typing import Any

from _gtype_strategies import GTYPES, JSON, expected_after_round_trip, values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gati.types import AvroCodec, GType, compile_validator

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.data())
def test_a_value_that_validates_encodes_and_decodes_back_equal(data: st.DataObject) -> None:
    t = data.draw(GTYPES, label="gtype")
    validator = compile_validator(t)
    codec = AvroCodec(t, namespace="gati.app.prop.h")
    value = data.draw(values(t), label="value")
    if validator(value):
        return  # the generators aim at valid values, but constraints may still reject one
    decoded = codec.decode(codec.encode(value))
    assert decoded == expected_after_round_trip(t, value)
    assert validator(decoded) == []


@FAST
@given(st.data())
def test_validator_never_raises_and_only_accepts_what_encodes(data: st.DataObject) -> None:
    t = data.draw(GTYPES, label="gtype")
    junk: Any = data.draw(JSON, label="junk")
    issues = compile_validator(t)(junk)
    assert isinstance(issues, list)
    for issue in issues:
        assert issue.path.startswith("$") and issue.code and issue.expected
        assert len(issue.actual) <= 80
    if not issues:  # whatever validates must be sendable
        codec = AvroCodec(t, namespace="gati.app.prop.h")
        codec.decode(codec.encode(junk))


@FAST
@given(GTYPES)
def test_to_json_from_json_round_trip(t: GType) -> None:
    doc = t.to_json()
    again = GType.from_json(json.loads(json.dumps(doc)))
    assert again == t
    assert again.fingerprint() == t.fingerprint()
    assert hash(again) == hash(t)


@FAST
@given(GTYPES, st.sampled_from(["nullable", "secret", "description"]))
def test_fingerprint_changes_with_the_contract_but_not_with_docs(t: GType, change: str) -> None:
    if change == "description":
        assert t.with_(description="docs only").fingerprint() == t.fingerprint()
    elif t.kind not in ("any", "null"):
        changed = t.with_(**{change: not getattr(t, change)})
        assert changed.fingerprint() != t.fingerprint()
