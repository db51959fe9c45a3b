"""The GType model: JSON form, fingerprints, and the public surface."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated

import pytest

import gati.types
from gati.errors import CodecError
from gati.types import Constraints, Description, GType, MinLen, Secret, analyze
from gati.types.model import FrozenMap, walk


@dataclass
class User:
    name: str
    email: str


@dataclass
class Profile:
    """A user's public profile."""

    user: User
    bio: Annotated[str, MinLen(1), Description("about me")]
    token: Annotated[str, Secret]
    links: list[str] | None = None


def test_fingerprint_is_stable_across_runs() -> None:
    t = analyze(User)
    assert t.canonical_json() == (
        '{"kind":"object","name":"User","properties":{"name":{"kind":"string"},'
        '"email":{"kind":"string"}},"required":["name","email"]}'
    )
    assert t.fingerprint() == "06b11e65fd8358a9c3c1c310eedcd7f1727c824386c61ba0035435f08f838e88"


def test_fingerprint_changes_when_a_field_changes() -> None:
    t = analyze(User)
    renamed = t.with_(properties={"name": GType("string"), "mail": GType("string")})
    retyped = t.with_(properties={"name": GType("string"), "email": GType("integer")})
    optional = t.with_(required=("name",))
    reordered = t.with_(properties={"email": GType("string"), "name": GType("string")})
    prints = {x.fingerprint() for x in (t, renamed, retyped, optional, reordered)}
    assert len(prints) == 5


def test_descriptions_do_not_change_the_fingerprint() -> None:
    t = analyze(Profile)
    assert t.description == "A user's public profile."
    assert t.properties["bio"].description == "about me"
    bare = GType.from_json(json.loads(t.canonical_json()))
    assert bare.description is None and bare != t
    assert bare.fingerprint() == t.fingerprint()


def test_json_round_trip_keeps_everything() -> None:
    t = analyze(Profile)
    doc = json.loads(json.dumps(t.to_json()))
    assert doc["properties"]["token"]["secret"] is True
    assert doc["properties"]["links"] == {
        "kind": "array", "items": {"kind": "string"}, "nullable": True, "default": None
    }
    assert GType.from_json(doc) == t
    assert hash(GType.from_json(doc)) == hash(t)


@pytest.mark.parametrize(
    "doc",
    [
        {"kind": "strange"},
        [],
        {"kind": "string", "colour": "red"},
        {"kind": "string", "constraints": {"biggest": 1}},
        {"kind": "ref"},
        {"kind": "object", "properties": {"a": {"kind": 3}}},
    ],
)
def test_from_json_rejects_what_is_not_a_gtype(doc: object) -> None:
    with pytest.raises(CodecError):
        GType.from_json(doc)  # type: ignore[arg-type]


def test_describe_and_walk() -> None:
    t = analyze(Profile)
    assert t.describe() == "object Profile"
    assert t.properties["links"].describe() == "array of string | null"
    assert [n.kind for n in walk(t)][:4] == ["object", "object", "string", "string"]
    assert GType("datetime", constraints=Constraints(format="date")).describe() == "date"


def test_frozen_map() -> None:
    a = FrozenMap({"x": 1, "y": 2})
    assert a == FrozenMap({"x": 1, "y": 2}) and a != FrozenMap({"y": 2, "x": 1})
    assert hash(a) == hash(FrozenMap({"x": 1, "y": 2})) and dict(a) == {"x": 1, "y": 2}
    with pytest.raises(TypeError):
        a["z"] = 3  # type: ignore[index]


def test_public_surface() -> None:
    assert gati.types.__all__ == sorted(gati.types.__all__)
    for name in gati.types.__all__:
        assert hasattr(gati.types, name), name
    assert {"analyze", "compile_validator", "compile_converter", "to_avro", "AvroCodec",
            "check_compatibility", "diff", "compare", "contract", "GType",
            "Issue"} <= set(gati.types.__all__)
