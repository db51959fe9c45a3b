"""Compiled validators report every failing field with its path, never echoing secrets."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import pytest

from gati.errors import AppError
from gati.types import (
    Constraints,
    Format,
    GType,
    Issue,
    Max,
    Min,
    MinLen,
    Pattern,
    Secret,
    analyze,
    compile_validator,
)


class Plan(enum.Enum):
    FREE = "free"
    PRO = "pro"


@dataclass
class Address:
    street: str
    zip: Annotated[str, Pattern(r"^\d{5}$")]


@dataclass
class Signup:
    name: Annotated[str, MinLen(3)]
    email: Annotated[str, Format("email")]
    password: Annotated[str, Secret, MinLen(12)]
    age: Annotated[int, Min(13), Max(130)]
    address: Address
    tags: list[str]
    plan: Plan = Plan.FREE
    scores: dict[str, float] = field(default_factory=dict)
    nickname: str | None = None


@dataclass
class Tree:
    label: str
    kids: list[Tree] = field(default_factory=list)


GOOD: dict[str, Any] = {
    "name": "Ada",
    "email": "ada@example.org",
    "password": "correct horse battery",
    "age": 36,
    "address": {"street": "1 Way", "zip": "12345"},
    "tags": ["x", "y"],
}


@pytest.fixture(scope="module")
def check() -> Any:
    return compile_validator(analyze(Signup))


def paths(issues: list[Issue]) -> list[tuple[str, str]]:
    return [(i.path, i.code) for i in issues]


def test_valid_value_has_no_issues(check: Any) -> None:
    assert check(GOOD) == []
    assert check({**GOOD, "plan": "pro", "scores": {"a": 1, "b": 2.5}, "nickname": None}) == []
    assert check.is_valid(GOOD)


def test_every_failing_field_is_reported_with_its_path(check: Any) -> None:
    bad = {
        "name": "Al",
        "email": "nope",
        "password": "short",
        "age": 7,
        "address": {"zip": "1234"},
        "tags": ["ok", 3, "ok", None],
        "plan": "gold",
        "scores": {"a": "high"},
        "nickname": 5,
    }
    assert paths(check(bad)) == [
        ("$.name", "min_length"),
        ("$.email", "format"),
        ("$.password", "min_length"),
        ("$.age", "minimum"),
        ("$.address.street", "missing"),
        ("$.address.zip", "pattern"),
        ("$.tags[1]", "type"),
        ("$.tags[3]", "type"),
        ("$.plan", "enum"),
        ("$.scores.a", "type"),
        ("$.nickname", "type"),
    ]


def test_issue_fields(check: Any) -> None:
    issues = {i.path: i for i in check({**GOOD, "age": "old", "address": None})}
    assert issues["$.age"] == Issue("$.age", "integer", "'old'", "type")
    assert issues["$.address"].expected == "object Address"
    assert str(issues["$.age"]) == "$.age: expected integer, got 'old'"
    assert issues["$.age"].to_json() == {
        "path": "$.age", "expected": "integer", "actual": "'old'", "code": "type"
    }
    missing = check({})
    assert [i.path for i in missing] == [
        "$.name", "$.email", "$.password", "$.age", "$.address", "$.tags"
    ]
    assert all(i.actual == "<missing>" and i.code == "missing" for i in missing)
    assert paths(check([])) == [("$", "type")]


def test_secrets_are_never_echoed(check: Any) -> None:
    for password in ("hunter2", 12345, ["secret"]):
        [issue] = check({**GOOD, "password": password})
        assert issue.actual == "<redacted>"
        assert "hunter2" not in repr(issue)
    nested = compile_validator(analyze(Annotated[Address, Secret]))
    assert {i.actual for i in nested({"street": 1, "zip": "x"})} == {"<redacted>"}


def test_actual_is_truncated(check: Any) -> None:
    [issue] = check({**GOOD, "name": 1.5, "tags": "x" * 500} | {"name": "Ada"})
    assert len(issue.actual) == 80 and issue.actual.endswith("…")


def test_recursive_type() -> None:
    check = compile_validator(analyze(Tree))
    value = {"label": "a", "kids": [{"label": "b", "kids": [{"label": 3}, {"kids": []}]}]}
    assert paths(check(value)) == [
        ("$.kids[0].kids[0].label", "type"),
        ("$.kids[0].kids[1].label", "missing"),
    ]
    deep: dict[str, Any] = {"label": "x"}
    for _ in range(5000):
        deep = {"label": "x", "kids": [deep]}
    assert paths(check(deep)) == [("$", "depth")]


def test_unions_dispatch_on_json_type() -> None:
    check = compile_validator(analyze(int | Address | list[str] | None))
    assert check(None) == check(3) == check(["a"]) == check({"street": "s", "zip": "12345"}) == []
    assert paths(check({"street": "s", "zip": "x"})) == [("$.zip", "pattern")]
    assert paths(check(["a", 1])) == [("$[1]", "type")]
    assert paths(check("text")) == [("$", "type")]
    assert check("text")[0].expected == "integer | object Address | array of string | null"


def test_union_of_two_records_reports_the_closest() -> None:
    @dataclass
    class Cat:
        meows: bool

    @dataclass
    class Dog:
        barks: bool
        name: str

    check = compile_validator(analyze(Cat | Dog))
    assert check({"meows": True}) == [] and check({"barks": True, "name": "Rex"}) == []
    assert paths(check({"barks": "loud", "name": "Rex"})) == [("$.meows", "missing")]


def test_literals_are_type_strict() -> None:
    check = compile_validator(analyze(Literal[1, "a", True]))
    assert check(1) == check("a") == check(True) == []
    assert [i.code for i in (*check(1.0), *check(2), *check(False), *check([1]))] == ["enum"] * 4
    ints = compile_validator(analyze(Literal[1, 2]))
    assert ints(True) and ints(1.0) and not ints(2)


def test_numbers_and_ranges() -> None:
    integer = compile_validator(GType("integer"))
    assert paths(integer(2**63)) == [("$", "range")] and integer(2**63 - 1) == []
    assert paths(integer(True)) == [("$", "type")] and paths(integer(1.0)) == [("$", "type")]
    number = compile_validator(GType("number", constraints=Constraints(exclusive_minimum=0)))
    assert number(1) == number(0.5) == []
    for bad, code in ((0, "exclusive_minimum"), (float("nan"), "range"), (float("inf"), "range"),
                      (2**60, "range"), (False, "type")):
        assert paths(number(bad)) == [("$", code)]
    multiple = compile_validator(GType("integer", constraints=Constraints(multiple_of=5)))
    assert multiple(10) == [] and paths(multiple(11)) == [("$", "multiple_of")]


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("email", "a@b.co", "a@b"),
        ("uuid", "12345678-1234-1234-1234-123456789abc", "1234"),
        ("date-time", "2024-05-01T10:00:00Z", "2024-05-01T10:00:00"),
        ("date", "2024-05-01", "2024-13-01"),
        ("time", "10:00:00", "25:00"),
        ("uri", "https://example.org/x", "not a uri"),
        ("ipv4", "10.0.0.1", "10.0.0.256"),
        ("ipv6", "::1", "1.2.3.4"),
    ],
)
def test_formats(fmt: str, good: str, bad: str) -> None:
    check = compile_validator(GType("string", constraints=Constraints(format=fmt)))
    assert check(good) == []
    assert paths(check(bad)) == [("$", "format")]


def test_bytes_maps_and_arrays() -> None:
    data = compile_validator(GType("bytes", constraints=Constraints(max_length=2)))
    assert data("AAE=") == [] and data(b"\x00") == []
    assert paths(data("!!")) == [("$", "type")] and paths(data("AAEC")) == [("$", "max_length")]
    mapping = compile_validator(GType("map", values=GType("integer"),
                                      constraints=Constraints(max_items=1)))
    assert paths(mapping({"a": 1, "b c": "x", 3: 4})) == [
        ("$", "max_items"), ("$['b c']", "type"), ("$[3]", "key_type")
    ]
    array = compile_validator(GType("array", items=GType("string"),
                                    constraints=Constraints(min_items=2)))
    assert paths(array(["a"])) == [("$", "min_items")] and paths(array(("a", "b"))) == [
        ("$", "type")
    ]


def test_deeply_nested_arrays_compile() -> None:
    t = GType("integer")
    for _ in range(30):
        t = GType("array", items=GType("object", properties={"x": t}, required=("x",)))
    check = compile_validator(t)
    value: Any = 1
    for _ in range(30):
        value = [{"x": value}]
    assert check(value) == []
    assert check.source.count("def ") > 1  # split into functions below the nesting limits


def test_a_ref_to_an_unknown_type_is_an_app_error() -> None:
    with pytest.raises(AppError, match="does not point at an enclosing named type"):
        compile_validator(GType("ref", ref="Nowhere"))


def test_any_accepts_everything() -> None:
    check = compile_validator(analyze(dict[str, Any]))
    assert check({"a": [1, {"b": None}]}) == []
