"""Hypothesis strategies: random GTypes that have an Avro form, and values for them."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from hypothesis import strategies as st

from gati.types import Constraints, GType, compile_validator
from gati.types.formats import encode_bytes

PROP = st.from_regex(r"[a-z][a-zA-Z0-9_]{0,6}", fullmatch=True)
SYMBOL = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}", fullmatch=True)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
PATTERNS = {r"^[a-z]+$": st.from_regex(r"[a-z]+", fullmatch=True), r"^\d{3}$": None}
EMAILS = ["a@b.co", "first.last@example.org", "x+y@sub.example.net"]

_int_bounds = st.tuples(st.integers(-1000, 0), st.integers(0, 1000))


@st.composite
def strings(draw: st.DrawFn) -> GType:
    choice = draw(st.sampled_from(["plain", "length", "pattern", "email", "uuid"]))
    if choice == "length":
        low = draw(st.integers(0, 3))
        return GType("string", constraints=Constraints(min_length=low, max_length=low + 5))
    if choice == "pattern":
        return GType("string", constraints=Constraints(pattern=r"^[a-z]+$"))
    if choice in ("email", "uuid"):
        return GType("string", constraints=Constraints(format=choice))
    return GType("string")


@st.composite
def integers(draw: st.DrawFn) -> GType:
    if draw(st.booleans()):
        low, high = draw(_int_bounds)
        return GType("integer", constraints=Constraints(minimum=low, maximum=high))
    return GType("integer")


@st.composite
def numbers(draw: st.DrawFn) -> GType:
    if draw(st.booleans()):
        return GType("number", constraints=Constraints(exclusive_minimum=0.0, maximum=1e6))
    return GType("number")


@st.composite
def enums(draw: st.DrawFn) -> GType:
    values = draw(st.lists(SYMBOL, min_size=1, max_size=4, unique=True))
    return GType("enum", name="E", enum=tuple(values))


@st.composite
def literals(draw: st.DrawFn) -> GType:
    pool = st.one_of(TEXT, st.integers(-5, 5), st.booleans())
    values = draw(st.lists(pool, min_size=1, max_size=4, unique_by=lambda v: (type(v), v)))
    return GType("literal", enum=tuple(values))


SCALARS = st.one_of(
    strings(),
    integers(),
    numbers(),
    st.just(GType("boolean")),
    st.just(GType("bytes")),
    st.just(GType("datetime", constraints=Constraints(format="date-time"))),
    st.just(GType("datetime", constraints=Constraints(format="date"))),
    st.just(GType("any")),
    enums(),
    literals(),
)


def _nullable(t: GType, flag: bool) -> GType:
    return t.with_(nullable=True) if flag and t.kind not in ("any", "null") else t


@st.composite
def objects(draw: st.DrawFn, children: st.SearchStrategy[GType]) -> GType:
    keys = draw(st.lists(PROP, max_size=4, unique=True))
    props: dict[str, GType] = {}
    required = []
    for key in keys:
        t = _nullable(draw(children), draw(st.booleans()))
        mode = draw(st.sampled_from(["required", "optional", "default"]))
        if mode == "required":
            required.append(key)
        elif mode == "default" and t.kind in ("integer", "boolean", "string") and not t.nullable:
            default = {"integer": 0, "boolean": False, "string": ""}[t.kind]
            if t.kind != "string" or (not t.constraints.pattern and not t.constraints.format):
                t = t.with_(default=default, has_default=True, constraints=Constraints())
        elif mode == "default" and t.nullable:
            t = t.with_(default=None, has_default=True)
        props[key] = t
    return GType("object", name="O", properties=props, required=tuple(required))


_UNION_FAMILIES = ["string", "integer", "number", "boolean", "array", "map", "object", "object"]


@st.composite
def unions(draw: st.DrawFn, children: st.SearchStrategy[GType]) -> GType:
    picks = draw(st.lists(st.sampled_from(range(len(_UNION_FAMILIES))), min_size=2,
                          max_size=3, unique=True))
    variants = []
    for i in picks:
        family = _UNION_FAMILIES[i]
        if family == "array":
            variants.append(GType("array", items=_strip_unions(draw(children))))
        elif family == "map":
            variants.append(GType("map", values=_strip_unions(draw(children))))
        elif family == "object":
            variants.append(draw(objects(children)))
        else:
            variants.append(GType(family))  # type: ignore[arg-type]
    return GType("union", variants=tuple(variants))


def _strip_unions(t: GType) -> GType:
    return GType("string") if t.kind == "union" else t


def _containers(children: st.SearchStrategy[GType]) -> st.SearchStrategy[GType]:
    return st.one_of(
        st.builds(lambda t, n: GType("array", items=_nullable(t, n)), children, st.booleans()),
        st.builds(lambda t: GType("array", items=t, constraints=Constraints(max_items=3)),
                  children),
        st.builds(lambda t: GType("map", values=t), children),
        objects(children),
        unions(children),
    )


def _unique_names(t: GType, counter: itertools.count[int]) -> GType:
    """Give every named node its own name, as the Analyzer guarantees."""
    changes: dict[str, Any] = {}
    if t.name is not None:
        changes["name"] = f"{t.name}{next(counter)}"
    if t.properties:
        changes["properties"] = {k: _unique_names(v, counter) for k, v in t.properties.items()}
    if t.items is not None:
        changes["items"] = _unique_names(t.items, counter)
    if t.values is not None:
        changes["values"] = _unique_names(t.values, counter)
    if t.variants:
        changes["variants"] = tuple(_unique_names(v, counter) for v in t.variants)
    return t.with_(**changes) if changes else t


GTYPES = st.recursive(SCALARS, _containers, max_leaves=8).map(
    lambda t: _unique_names(t, itertools.count())
)


# -- values ---------------------------------------------------------------------------------

JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), TEXT,
              st.floats(allow_nan=False, allow_infinity=False)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=6,
)


def values(t: GType) -> st.SearchStrategy[Any]:
    """Values of ``t`` (mostly valid: the strategies follow the constraints)."""
    base = _values(t)
    return st.one_of(st.none(), base) if t.nullable else base


def _values(t: GType) -> st.SearchStrategy[Any]:
    c = t.constraints
    kind = t.kind
    if kind == "string":
        if c.format == "email":
            return st.sampled_from(EMAILS)
        if c.format == "uuid":
            return st.uuids().map(str)
        if c.pattern:
            return st.from_regex(r"[a-z]{1,8}", fullmatch=True)
        return st.text(st.characters(blacklist_categories=("Cs",)),
                       min_size=c.min_length or 0, max_size=c.max_length or 8)
    if kind == "integer":
        low = -(2**63) if c.minimum is None else int(c.minimum)
        high = 2**63 - 1 if c.maximum is None else int(c.maximum)
        return st.integers(low, high)
    if kind == "number":
        if c.exclusive_minimum is not None:
            return st.floats(min_value=0.0, max_value=1e6, exclude_min=True)
        return st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                         st.integers(-(2**53), 2**53))
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "bytes":
        return st.binary(max_size=12).map(encode_bytes)
    if kind == "datetime":
        if c.format == "date":
            return st.dates().map(dt.date.isoformat)
        return st.datetimes(timezones=st.just(dt.UTC)).map(dt.datetime.isoformat)
    if kind == "any":
        return JSON
    if kind in ("enum", "literal"):
        return st.sampled_from(t.enum)
    if kind == "array":
        assert t.items is not None
        return st.lists(values(t.items), max_size=c.max_items if c.max_items is not None else 3)
    if kind == "map":
        assert t.values is not None
        return st.dictionaries(TEXT, values(t.values), max_size=3)
    if kind == "object":
        required = {k: values(p) for k, p in t.properties.items() if k in t.required}
        optional = {k: values(p) for k, p in t.properties.items() if k not in t.required}
        return st.fixed_dictionaries(required, optional=optional)
    if kind == "union":
        return st.one_of([_values(v) for v in t.variants])
    raise AssertionError(f"no values for {kind}")


def expected_after_round_trip(t: GType, value: Any) -> Any:
    """What the Avro codec gives back: defaults filled in; an optional field without a
    default that was null comes back absent (Avro cannot tell the two apart)."""
    if value is None:
        return None
    if t.kind == "object" and isinstance(value, dict):
        out = {}
        for key, prop in t.properties.items():
            if key in value:
                if value[key] is None and key not in t.required and not prop.has_default:
                    continue
                out[key] = expected_after_round_trip(prop, value[key])
            elif prop.has_default:
                out[key] = prop.default
        return out
    if t.kind == "array" and t.items is not None:
        return [expected_after_round_trip(t.items, v) for v in value]
    if t.kind == "map" and t.values is not None:
        return {k: expected_after_round_trip(t.values, v) for k, v in value.items()}
    if t.kind == "union":
        fits = [v for v in t.variants if not compile_validator(v)(value)]
        exact = [v for v in fits if v.kind != "object" or set(value) <= set(v.properties)]
        return expected_after_round_trip((exact or fits)[0], value)
    return value
