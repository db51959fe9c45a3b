"""GType -> Avro: schema shape, stable names, and fastavro round trips."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict

import pytest

from gati.errors import AppError, CodecError
from gati.types import AvroCodec, GType, analyze, namespace_for, to_avro

NS = namespace_for("users", "create_user")


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Odd(enum.Enum):
    A = "in-progress"
    B = "done"


@dataclass
class Address:
    street: str
    zip: str


@dataclass
class User:
    id: uuid.UUID
    name: str
    seen: dt.datetime
    born: dt.date
    color: Color
    odd: Odd
    home: Address
    work: Address | None = None
    tags: list[str] = field(default_factory=list)
    extra: dict[str, int] = field(default_factory=dict)
    score: float = 1.5
    blob: bytes = b""
    anything: Any = None


@dataclass
class Node:
    value: int
    kids: list[Node] = field(default_factory=list)


class Movie(TypedDict):
    title: str
    year: NotRequired[int]


def fields_of(schema: dict[str, Any]) -> dict[str, Any]:
    return {f["name"]: f for f in schema["fields"]}


def test_namespace_and_names() -> None:
    assert NS == "gati.app.users.create_user"
    assert namespace_for("my-app", "pkg.mod.handler") == "gati.app.my_app.pkg.mod.handler"
    schema = to_avro(analyze(User), namespace=NS)
    assert schema["type"] == "record" and schema["name"] == "User" and schema["namespace"] == NS
    f = fields_of(schema)
    assert f["home"]["type"]["name"] == "Address"
    assert f["work"] == {"name": "work", "type": ["null", f"{NS}.Address"], "default": None}
    assert f["id"]["type"] == {"type": "string", "logicalType": "uuid"}
    assert f["seen"]["type"] == {"type": "long", "logicalType": "timestamp-micros"}
    assert f["born"]["type"] == {"type": "int", "logicalType": "date"}
    assert f["color"]["type"]["type"] == "enum" and f["color"]["type"]["symbols"] == ["red", "blue"]
    assert f["odd"]["type"] == "string"  # "in-progress" is not an Avro symbol
    assert f["tags"] == {"name": "tags", "type": {"type": "array", "items": "string"},
                         "default": []}
    assert f["extra"]["type"] == {"type": "map", "values": "long"}
    assert f["score"]["default"] == 1.5
    assert to_avro(analyze(User), namespace=NS) == schema  # stable


def test_round_trip_of_a_full_value() -> None:
    codec = AvroCodec(analyze(User), namespace=NS)
    value = {
        "id": "12345678-1234-1234-1234-123456789abc",
        "name": "Ada",
        "seen": "2024-05-01T12:00:00+02:00",
        "born": "1815-12-10",
        "color": "red",
        "odd": "in-progress",
        "home": {"street": "1 Way", "zip": "12345"},
        "work": {"street": "2 Way", "zip": "54321"},
        "tags": ["a"],
        "extra": {"k": 1},
        "blob": "AAE=",
        "anything": {"nested": [1, 2.5, None, "x"]},
    }
    decoded = codec.decode(codec.encode(value))
    assert decoded == {**value, "seen": "2024-05-01T10:00:00+00:00", "score": 1.5}


def test_optional_without_default_comes_back_absent() -> None:
    codec = AvroCodec(analyze(Movie), namespace=NS)
    assert codec.decode(codec.encode({"title": "Up"})) == {"title": "Up"}
    assert codec.decode(codec.encode({"title": "Up", "year": 2009})) == {"title": "Up",
                                                                         "year": 2009}


def test_recursive_type_round_trips() -> None:
    codec = AvroCodec(analyze(Node), namespace=NS)
    kids = codec.schema["fields"][1]["type"]
    assert kids == {"type": "array", "items": f"{NS}.Node"}
    tree = {"value": 1, "kids": [{"value": 2, "kids": [{"value": 3, "kids": []}]}]}
    assert codec.decode(codec.encode(tree)) == tree


def test_unions_choose_the_branch_explicitly() -> None:
    @dataclass
    class A:
        x: int

    @dataclass
    class B:
        x: int
        y: str = ""

    t = analyze(A | B | str | dt.datetime | None)
    codec = AvroCodec(t, namespace=NS)
    assert codec.schema[0] == "null"
    for value in ({"x": 1}, {"x": 1, "y": "b"}, "plain", None):
        assert codec.decode(codec.encode(value)) == value
    assert codec.decode(codec.encode("2024-01-01T00:00:00Z")) == "2024-01-01T00:00:00Z"


def test_mixed_literal_round_trips() -> None:
    from typing import Literal

    codec = AvroCodec(analyze(Literal["a", 1, True]), namespace=NS)
    assert codec.schema == ["string", "long", "boolean"]
    for value in ("a", 1, True):
        assert codec.decode(codec.encode(value)) == value


def test_unions_without_an_avro_form_are_app_errors() -> None:
    with pytest.raises(AppError, match="two variants are written as array"):
        to_avro(analyze(list[int] | list[str]), namespace=NS)
    with pytest.raises(AppError, match="two variants are written as long"):
        to_avro(analyze(int | dt.datetime), namespace=NS)
    bad_field = GType("object", name="X", properties={"a-b": GType("string")}, required=("a-b",))
    with pytest.raises(AppError, match="not a valid Avro field name"):
        to_avro(bad_field, namespace=NS)


def test_encoding_errors_are_codec_errors() -> None:
    codec = AvroCodec(analyze(Address), namespace=NS)
    with pytest.raises(CodecError):
        codec.encode({"street": 1, "zip": "x"})
    with pytest.raises(CodecError):
        codec.decode(b"\xff\xff\xff")


def test_decoding_with_an_older_writer_schema() -> None:
    @dataclass
    class V1:
        name: str

    @dataclass
    class V2:
        name: str
        nick: str | None = None
        age: int = 0

    old = AvroCodec(analyze(V1).with_(name="V"), namespace=NS)
    new = AvroCodec(analyze(V2).with_(name="V"), namespace=NS)
    data = old.encode({"name": "Ada"})
    assert new.decode(data, writer_schema=old.schema) == {"name": "Ada", "nick": None, "age": 0}
