"""The Analyzer: every supported construct, and a clear message for every rejection."""

from __future__ import annotations

import datetime as dt
import enum
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NewType, NotRequired, Optional, Required, TypedDict

import pytest

from gati.errors import AppError
from gati.types import (
    Constraints,
    Description,
    ExclusiveMin,
    Format,
    GType,
    Max,
    MaxLen,
    Min,
    MinLen,
    MultipleOf,
    Pattern,
    Secret,
    analyze,
)


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass
class Address:
    """Where a user lives."""

    street: str
    zip: Annotated[str, Pattern(r"^\d{5}$")]


@dataclass
class CreateUser:
    name: Annotated[str, MinLen(3), MaxLen(20)]
    email: Annotated[str, Format("email")]
    address: Address
    password: Annotated[str, Secret]
    nickname: str | None = None
    age: int = 0
    tags: list[str] = field(default_factory=list)


@dataclass
class Node:
    value: int
    children: list[Node] = field(default_factory=list)
    parent: Node | None = None


class Movie(TypedDict):
    title: str
    year: NotRequired[int]


class Partial(TypedDict, total=False):
    a: int
    b: Required[str]


UserId = NewType("UserId", int)


def test_dataclass_fields_with_defaults_are_optional() -> None:
    t = analyze(CreateUser)
    assert t.kind == "object" and t.name == "CreateUser"
    assert list(t.properties) == [
        "name", "email", "address", "password", "nickname", "age", "tags"
    ]
    assert t.required == ("name", "email", "address", "password")
    assert t.properties["nickname"] == GType("string", nullable=True, default=None,
                                             has_default=True)
    assert t.properties["age"].default == 0 and t.properties["age"].has_default
    assert t.properties["tags"].default == []
    assert t.properties["password"].secret
    assert t.properties["address"].description == "Where a user lives."


def test_annotated_constraints() -> None:
    t = analyze(CreateUser)
    assert t.properties["name"].constraints == Constraints(min_length=3, max_length=20)
    assert t.properties["email"].constraints.format == "email"
    assert t.properties["address"].properties["zip"].constraints.pattern == r"^\d{5}$"
    number = analyze(Annotated[float, ExclusiveMin(0), Max(10), MultipleOf(0.5)])
    assert number.constraints == Constraints(exclusive_minimum=0, maximum=10, multiple_of=0.5)
    items = analyze(Annotated[list[int], MinLen(1), MaxLen(3)])
    assert items.constraints == Constraints(min_items=1, max_items=3)
    described = analyze(Annotated[int, Min(1), Description("how many")])
    assert described.description == "how many" and described.constraints.minimum == 1


def test_typeddict_total_required_and_not_required() -> None:
    movie = analyze(Movie)
    assert movie.name == "Movie" and movie.required == ("title",)
    assert movie.properties["year"] == GType("integer")
    partial = analyze(Partial)
    assert partial.required == ("b",)


def test_literal_enum_and_optional() -> None:
    assert analyze(Literal["a", "b"]) == GType("literal", enum=("a", "b"))
    assert analyze(Literal["a", None]) == GType("literal", enum=("a",), nullable=True)
    assert analyze(Literal[Color.RED]).enum == ("red",)
    assert analyze(Color) == GType("enum", name="Color", enum=("red", "green"))
    assert analyze(Level).enum == (1, 2)
    assert analyze(Optional[int]) == GType("integer", nullable=True)  # noqa: UP045
    assert analyze(int | None) == GType("integer", nullable=True)


def test_unions_flatten_and_merge_literals() -> None:
    t = analyze(int | str | Address | None)
    assert t.kind == "union" and t.nullable
    assert [v.kind for v in t.variants] == ["integer", "string", "object"]
    merged = analyze(Literal["a"] | Literal["b"] | int)
    assert [v.kind for v in merged.variants] == ["integer", "literal"]
    assert merged.variants[1].enum == ("a", "b")
    assert analyze(int | Any) == GType("any")


@pytest.mark.parametrize(
    ("tp", "expected"),
    [
        (list[int], GType("array", items=GType("integer"))),
        (tuple[str, ...], GType("array", items=GType("string"))),
        (set[str], GType("array", items=GType("string"))),
        (frozenset[int], GType("array", items=GType("integer"))),
        (dict[str, float], GType("map", values=GType("number"))),
        (bool, GType("boolean")),
        (bytes, GType("bytes")),
        (None, GType("null")),
        (Any, GType("any")),
        (UserId, GType("integer")),
        (dt.datetime, GType("datetime", constraints=Constraints(format="date-time"))),
        (dt.date, GType("datetime", constraints=Constraints(format="date"))),
        (uuid.UUID, GType("string", constraints=Constraints(format="uuid"))),
    ],
)
def test_builtin_types(tp: Any, expected: GType) -> None:
    assert analyze(tp) == expected


def test_recursive_types_become_refs_to_the_enclosing_type() -> None:
    t = analyze(Node)
    assert t.properties["children"].items == GType("ref", ref="Node")
    assert t.properties["parent"].kind == "ref" and t.properties["parent"].nullable
    assert analyze(list[Node]).items == t


@pytest.mark.parametrize(
    ("tp", "message"),
    [
        (complex, "complex: unsupported type <class 'complex'>"),
        (object, "object: unsupported type <class 'object'>"),
        (dict[int, str], "map keys must be str"),
        (tuple[int, str], "fixed-length tuples"),
        (list, "give the item type"),
        (Callable[[int], int], "unsupported type"),
        (Annotated[int, Pattern("x")], "Pattern(regex='x') applies to string, not integer"),
        (Annotated[str, Format("zip")], "unknown format 'zip'"),
        (Annotated[str, Pattern("(")], "invalid pattern"),
        (Annotated[int, Min(5), Max(1)], "empty range"),
        (Annotated[int, object()], "unsupported Annotated marker"),
        (Literal[1.5], "Literal values must be str, int, bool or None"),
    ],
)
def test_rejections_name_the_type(tp: Any, message: str) -> None:
    with pytest.raises(AppError, match=r"unsupported|applies|unknown|invalid|empty") as info:
        analyze(tp)
    assert message in str(info.value)


@dataclass
class Zip:
    code: complex


@dataclass
class Where:
    zip: Zip


@dataclass
class Bad:
    address: Where


@dataclass
class BadTags:
    tags: list[dict[int, str]]


def _another_address() -> type:
    @dataclass
    class Address:
        line: str

    return Address


OtherAddress = _another_address()


@dataclass
class Both:
    home: Address
    work: OtherAddress  # type: ignore[valid-type]


def test_rejection_names_the_field_path() -> None:
    with pytest.raises(AppError) as info:
        analyze(Bad)
    assert str(info.value) == "Bad.address.zip.code: unsupported type <class 'complex'>"
    with pytest.raises(AppError, match=r"BadTags\.tags\[\]: unsupported type"):
        analyze(BadTags)


def test_two_types_with_one_name_are_rejected() -> None:
    with pytest.raises(AppError, match="two different types are named 'Address'"):
        analyze(Both)


def test_mixed_enum_and_generic_dataclass_are_rejected() -> None:
    class Mixed(enum.Enum):
        A = "a"
        B = 1

    with pytest.raises(AppError, match="Enum values must be all str or all int"):
        analyze(Mixed)


def test_unresolvable_annotation() -> None:
    @dataclass
    class Ghost:
        x: Missing  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(AppError, match="cannot resolve the annotations of Ghost"):
        analyze(Ghost)


def test_annotated_types_objects_are_understood() -> None:
    at = pytest.importorskip("annotated_types")
    t = analyze(Annotated[int, at.Gt(0), at.Le(9)])
    assert t.constraints == Constraints(exclusive_minimum=0, maximum=9)
    s = analyze(Annotated[str, at.Len(1, 5)])
    assert s.constraints == Constraints(min_length=1, max_length=5)
    with pytest.raises(AppError, match="unsupported Annotated marker"):
        analyze(Annotated[int, at.Predicate(bool)])


def test_gati_types_is_pure() -> None:
    code = (
        "import sys, gati.types; "
        "bad = {'faust', 'aiokafka', 'sqlalchemy', 'uvicorn'}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"
