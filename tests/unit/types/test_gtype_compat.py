"""Compatibility: the avro checker's verdict and the field-level GType diff."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated

import pytest

from gati.errors import AppError
from gati.types import (
    GType,
    MaxLen,
    MinLen,
    analyze,
    check_compatibility,
    compare,
    diff,
    namespace_for,
    render_changes,
    to_avro,
)

NS = namespace_for("users", "users")


def user_v1() -> GType:
    @dataclass
    class User:
        name: str
        email: str

    return analyze(User)


def user_v2() -> GType:
    @dataclass
    class User:
        firstName: str
        lastName: str
        email: str

    return analyze(User)


def test_seed_example_user_name_split_is_breaking() -> None:
    report = compare(user_v1(), user_v2(), namespace=NS, mode="full")
    assert not report.compatible
    changes = {(c.path, c.kind): c for c in report.changes}
    assert set(changes) == {
        ("$.name", "removed"),
        ("$.firstName", "added"),
        ("$.lastName", "added"),
    }
    assert changes[("$.name", "removed")].breaks == {"forward"}
    assert changes[("$.firstName", "added")].breaks == {"backward"}
    assert all(c.breaking for c in report.changes)
    backward, forward = report.verdicts
    assert not backward.compatible and set(backward.messages) == {"firstName", "lastName"}
    assert set(backward.paths) == {"$.firstName", "$.lastName"}
    assert not forward.compatible and forward.messages == ("name",)
    text = report.render()
    assert text.startswith("BREAKING (full)")
    assert "- $.name: removed, was string, required (breaks forward)" in text
    assert "+ $.firstName: added, string, required (breaks backward)" in text
    assert "+ $.lastName: added" in text


def schemas(old_fields: list[dict[str, object]], new_fields: list[dict[str, object]]) -> tuple:
    def record(fields: list[dict[str, object]]) -> dict[str, object]:
        return {"type": "record", "name": "R", "namespace": NS, "fields": fields}

    return record(old_fields), record(new_fields)


def test_adding_an_optional_field_is_backward_compatible() -> None:
    old, new = schemas(
        [{"name": "a", "type": "string"}],
        [{"name": "a", "type": "string"}, {"name": "b", "type": ["null", "long"],
                                           "default": None}],
    )
    assert check_compatibility(old, new, "backward").compatible
    assert check_compatibility(old, new, "forward").compatible
    assert check_compatibility(old, new, "full").compatible


def test_adding_a_required_field_breaks_backward_only() -> None:
    old, new = schemas([{"name": "a", "type": "string"}],
                       [{"name": "a", "type": "string"}, {"name": "b", "type": "long"}])
    backward = check_compatibility(old, new, "backward")
    assert not backward.compatible
    assert backward.verdicts[0].kinds == ("reader_field_missing_default_value",)
    assert check_compatibility(old, new, "forward").compatible


def test_removing_a_required_field_breaks_forward_only() -> None:
    old, new = schemas([{"name": "a", "type": "string"}, {"name": "b", "type": "long"}],
                       [{"name": "a", "type": "string"}])
    assert check_compatibility(old, new, "backward").compatible
    forward = check_compatibility(old, new, "forward")
    assert not forward.compatible and forward.verdicts[0].paths == ("$.b",)


def test_type_changes_and_widening() -> None:
    old, new = schemas([{"name": "a", "type": "int"}], [{"name": "a", "type": "long"}])
    assert check_compatibility(old, new, "backward").compatible  # long reads int
    assert not check_compatibility(old, new, "forward").compatible
    old, new = schemas([{"name": "a", "type": "string"}], [{"name": "a", "type": "long"}])
    report = check_compatibility(old, new, "full")
    assert not report.compatible and "type_mismatch" in report.render()


def test_gtype_round_trip_through_avro_is_self_compatible() -> None:
    schema = to_avro(user_v2(), namespace=NS)
    assert check_compatibility(schema, schema, "full").compatible
    assert check_compatibility(str(schema).replace("'", '"'), schema).compatible


class Plan(enum.Enum):
    FREE = "free"
    PRO = "pro"


class Plan2(enum.Enum):
    FREE = "free"
    TEAM = "team"


def test_diff_names_constraint_enum_nullable_and_required_changes() -> None:
    @dataclass
    class Old:
        name: Annotated[str, MinLen(1), MaxLen(50)]
        plan: Plan
        age: int
        nick: str
        note: str | None = None

    @dataclass
    class New:
        name: Annotated[str, MinLen(3), MaxLen(80)]
        plan: Plan2
        age: float
        nick: str | None
        note: str | None = None
        extra: int = 0

    changes = {(c.path, c.kind, c.detail): c.breaks for c in diff(analyze(Old), analyze(New))}
    assert changes == {
        ("$", "renamed", "Old -> New"): {"backward", "forward"},
        ("$.name", "constraint_changed", "min_length 1 -> 3 (tightened)"): {"backward"},
        ("$.name", "constraint_changed", "max_length 50 -> 80 (loosened)"): {"forward"},
        ("$.plan", "renamed", "Plan -> Plan2"): {"backward", "forward"},
        ("$.plan", "enum_changed", "values removed: ['pro']"): {"backward"},
        ("$.plan", "enum_changed", "values added: ['team']"): {"forward"},
        ("$.age", "type_changed", "integer -> number (widened)"): {"forward"},
        ("$.nick", "nullable_changed", "now accepts null"): {"forward"},
        ("$.extra", "added", "integer, optional"): set(),
    }
    backward_only = diff(analyze(Old), analyze(New), mode="backward")
    assert {c.path for c in backward_only if c.breaking} == {"$", "$.name", "$.plan"}


def test_diff_of_equal_types_is_empty_and_renders() -> None:
    assert diff(user_v1(), user_v1()) == []
    assert render_changes([]) == "no changes"
    assert compare(user_v1(), user_v1(), namespace=NS).render() == "\n".join(
        [
            "compatible (full)",
            "  avro backward (new reads old): compatible",
            "  avro forward (old reads new): compatible",
        ]
    )


def test_bad_input_is_an_app_error() -> None:
    with pytest.raises(AppError, match="unknown compatibility mode"):
        check_compatibility("string", "string", "sideways")  # type: ignore[arg-type]
    with pytest.raises(AppError, match="not a valid Avro schema"):
        check_compatibility({"type": "record"}, "string")
