"""Is a new contract compatible with the old one, and exactly what changed?

Two views, reported together because each misses what the other sees:

- ``check_compatibility``: the Avro verdict, from the ``avro`` package's
  ``ReaderWriterCompatibilityChecker`` (the reference rules: can a reader of one schema
  decode what a writer of the other wrote). It is authoritative for the wire.
- ``diff``: a field-level diff of the two GTypes, naming removed and added fields, type,
  nullability, requiredness, enum and constraint changes. Avro knows nothing of
  constraints (``MinLen`` tightened is invisible to it) but a client sees them.

Directions, as Avro and schema registries use them: **backward** = the new version reads
what the old wrote (new handler, old clients' requests); **forward** = the old version reads
what the new wrote (old clients, new handler's responses); **full** = both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, Literal

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from gati.errors import AppError
from gati.types.avro_schema import to_avro
from gati.types.model import GType

Mode = Literal["backward", "forward", "full"]
Direction = Literal["backward", "forward"]
_DIRECTIONS: dict[str, tuple[Direction, ...]] = {
    "backward": ("backward",),
    "forward": ("forward",),
    "full": ("backward", "forward"),
}
_LOWER = ("minimum", "exclusive_minimum", "min_length", "min_items")
_UPPER = ("maximum", "exclusive_maximum", "max_length", "max_items")


@dataclass(frozen=True, slots=True)
class AvroVerdict:
    """The avro checker's answer for one direction.

    ``paths`` are the checker's locations (``/fields/1/type``) read back as field paths
    (``$.address.zip``) against the reader schema, where that is possible.
    """

    direction: Direction
    compatible: bool
    kinds: tuple[str, ...]
    messages: tuple[str, ...]
    locations: tuple[str, ...]
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two GTypes.

    Attributes:
        path: where, e.g. ``$.address.zip`` (``[]`` = array items, ``{}`` = map values).
        kind: removed, added, type_changed, nullable_changed, required_changed,
            enum_changed, constraint_changed or renamed.
        detail: what changed, for people.
        breaks: the directions this change breaks (empty when harmless).
        breaking: whether it breaks the mode the diff was asked for.
    """

    path: str
    kind: str
    detail: str
    breaks: frozenset[Direction]
    breaking: bool

    def __str__(self) -> str:
        sign = {"removed": "-", "added": "+"}.get(self.kind, "~")
        verdict = f"breaks {' and '.join(sorted(self.breaks))}" if self.breaks else "compatible"
        return f"{sign} {self.path}: {self.kind.replace('_', ' ')}, {self.detail} ({verdict})"


@dataclass(frozen=True, slots=True)
class CompatibilityReport:
    """The answer of ``check_compatibility`` / ``compare``; ``render()`` for people."""

    mode: Mode
    compatible: bool
    verdicts: tuple[AvroVerdict, ...]
    changes: tuple[Change, ...] = ()

    @property
    def breaking_changes(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.breaking)

    def render(self) -> str:
        state = "compatible" if self.compatible else "BREAKING"
        lines = [f"{state} ({self.mode})"]
        for v in self.verdicts:
            who = "new reads old" if v.direction == "backward" else "old reads new"
            if v.compatible:
                lines.append(f"  avro {v.direction} ({who}): compatible")
                continue
            lines.append(f"  avro {v.direction} ({who}): {', '.join(sorted(set(v.kinds)))}")
            lines.append(f"    at {', '.join(v.paths or v.locations)}: {', '.join(v.messages)}")
        if self.changes:
            lines.append("  changes:")
            lines += [f"    {change}" for change in self.changes]
        return "\n".join(lines)


def check_compatibility(
    old_avro: Any, new_avro: Any, mode: Mode = "backward"
) -> CompatibilityReport:
    """Avro compatibility of ``new_avro`` with ``old_avro`` (JSON-able schemas or text).

    Raises:
        AppError: a schema does not parse, or ``mode`` is unknown.
    """
    if mode not in _DIRECTIONS:
        raise AppError(f"unknown compatibility mode {mode!r} (backward, forward or full)")
    old, new = _parse(old_avro), _parse(new_avro)
    old_json, new_json = _as_json(old_avro), _as_json(new_avro)
    verdicts = []
    for direction in _DIRECTIONS[mode]:
        reader, writer = (new, old) if direction == "backward" else (old, new)
        reader_json = new_json if direction == "backward" else old_json
        checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
        result = checker.get_compatibility(reader, writer)
        ok = result.compatibility is not SchemaCompatibilityType.incompatible
        locations = tuple(sorted(loc for loc in result.locations if loc != "/")) if not ok else ()
        verdicts.append(
            AvroVerdict(
                direction=direction,
                compatible=ok,
                kinds=tuple(i.value for i in result.incompatibilities),
                messages=tuple(sorted(result.messages)) if not ok else (),
                locations=locations,
                paths=tuple(p for p in (_field_path(reader_json, loc) for loc in locations) if p),
            )
        )
    return CompatibilityReport(mode, all(v.compatible for v in verdicts), tuple(verdicts))


def compare(old: GType, new: GType, *, namespace: str, mode: Mode = "full") -> CompatibilityReport:
    """Both views at once: the Avro verdict of the two GTypes' schemas and their ``diff``.

    ``compatible`` is the Avro verdict and no breaking change in the diff.
    """
    report = check_compatibility(
        to_avro(old, namespace=namespace), to_avro(new, namespace=namespace), mode
    )
    changes = tuple(diff(old, new, mode=mode))
    compatible = report.compatible and not any(c.breaking for c in changes)
    return CompatibilityReport(mode, compatible, report.verdicts, changes)


def diff(old: GType, new: GType, *, mode: Mode = "full") -> list[Change]:
    """Field-level changes from ``old`` to ``new``; ``breaking`` is judged for ``mode``."""
    if mode not in _DIRECTIONS:
        raise AppError(f"unknown compatibility mode {mode!r} (backward, forward or full)")
    found: list[tuple[str, str, str, frozenset[Direction]]] = []
    _diff(old, new, "$", found)
    relevant = set(_DIRECTIONS[mode])
    return [Change(p, k, d, b, bool(b & relevant)) for p, k, d, b in found]


def render_changes(changes: Iterable[Change]) -> str:
    """One line per change, or ``no changes``."""
    lines = [str(c) for c in changes]
    return "\n".join(lines) if lines else "no changes"


# -- the GType diff -----------------------------------------------------------------------

_BACK: frozenset[Direction] = frozenset({"backward"})
_FWD: frozenset[Direction] = frozenset({"forward"})
_BOTH: frozenset[Direction] = frozenset({"backward", "forward"})
_NONE: frozenset[Direction] = frozenset()
Found = list[tuple[str, str, str, frozenset[Direction]]]


def _diff(old: GType, new: GType, path: str, out: Found) -> None:
    if old.kind != new.kind:
        if (old.kind, new.kind) == ("integer", "number"):
            out.append((path, "type_changed", "integer -> number (widened)", _FWD))
        elif (old.kind, new.kind) == ("number", "integer"):
            out.append((path, "type_changed", "number -> integer (narrowed)", _BACK))
        else:
            out.append((path, "type_changed", f"{old.describe()} -> {new.describe()}", _BOTH))
        return
    if old.nullable != new.nullable:
        detail, breaks = ("now accepts null", _FWD) if new.nullable else ("no longer null", _BACK)
        out.append((path, "nullable_changed", detail, breaks))
    old_name = old.ref if old.kind == "ref" else old.name
    new_name = new.ref if new.kind == "ref" else new.name
    if old_name and new_name and old_name != new_name:
        out.append((path, "renamed", f"{old_name} -> {new_name}", _BOTH))
    _constraints(old, new, path, out)
    if old.kind == "object":
        _objects(old, new, path, out)
    elif old.kind in ("enum", "literal"):
        removed = [v for v in old.enum if v not in new.enum]
        added = [v for v in new.enum if v not in old.enum]
        if removed:
            out.append((path, "enum_changed", f"values removed: {removed}", _BACK))
        if added:
            out.append((path, "enum_changed", f"values added: {added}", _FWD))
    elif old.kind == "array" and old.items is not None and new.items is not None:
        _diff(old.items, new.items, f"{path}[]", out)
    elif old.kind == "map" and old.values is not None and new.values is not None:
        _diff(old.values, new.values, f"{path}{{}}", out)
    elif old.kind == "union":
        _unions(old, new, path, out)


def _objects(old: GType, new: GType, path: str, out: Found) -> None:
    for key, prop in old.properties.items():
        where = f"{path}.{key}"
        if key not in new.properties:
            if key in old.required:
                out.append((where, "removed", f"was {prop.describe()}, required", _FWD))
            else:
                out.append((where, "removed", f"was {prop.describe()}, optional", _NONE))
            continue
        was, now = key in old.required, key in new.required
        if was and not now:
            out.append((where, "required_changed", "now optional", _FWD))
        elif now and not was:
            out.append((where, "required_changed", "now required", _BACK))
        _diff(prop, new.properties[key], where, out)
    for key, prop in new.properties.items():
        if key not in old.properties:
            if key in new.required:
                out.append((f"{path}.{key}", "added", f"{prop.describe()}, required", _BACK))
            else:
                out.append((f"{path}.{key}", "added", f"{prop.describe()}, optional", _NONE))


def _variant_key(t: GType) -> str:
    return f"{t.kind}:{t.ref if t.kind == 'ref' else t.name or ''}"


def _unions(old: GType, new: GType, path: str, out: Found) -> None:
    olds = {_variant_key(v): v for v in old.variants}
    news = {_variant_key(v): v for v in new.variants}
    for key, variant in olds.items():
        if key in news:
            _diff(variant, news[key], path, out)
        else:
            out.append((path, "type_changed", f"variant removed: {variant.describe()}", _BACK))
    for key, variant in news.items():
        if key not in olds:
            out.append((path, "type_changed", f"variant added: {variant.describe()}", _FWD))


def _constraints(old: GType, new: GType, path: str, out: Found) -> None:
    for f in fields(old.constraints):
        a, b = getattr(old.constraints, f.name), getattr(new.constraints, f.name)
        if a == b:
            continue
        if f.name in _LOWER:
            tighter = a is None or (b is not None and b > a)
        elif f.name in _UPPER:
            tighter = a is None or (b is not None and b < a)
        else:  # pattern, format, multiple_of: adding one tightens, changing one is both
            tighter = a is None
            if a is not None and b is not None:
                out.append((path, "constraint_changed", f"{f.name} {a!r} -> {b!r}", _BOTH))
                continue
        breaks = _BACK if tighter else _FWD
        word = "tightened" if tighter else "loosened"
        out.append((path, "constraint_changed", f"{f.name} {a!r} -> {b!r} ({word})", breaks))


# -- avro plumbing ------------------------------------------------------------------------


def _as_json(schema: Any) -> Any:
    return json.loads(schema) if isinstance(schema, str) else schema


def _parse(schema: Any) -> avro.schema.Schema:
    text = schema if isinstance(schema, str) else json.dumps(schema)
    try:
        return avro.schema.parse(text)
    except Exception as exc:  # avro raises SchemaParseException and plain errors
        raise AppError(f"not a valid Avro schema: {exc}") from None


def _field_path(schema: Any, location: str) -> str | None:
    """Read an avro checker location (``/fields/1/type/items``) as a field path."""
    named: dict[str, Any] = {}
    _collect_named(schema, named, "")
    path = "$"
    node = schema
    tokens = [t for t in location.split("/") if t]
    i = 0
    try:
        while i < len(tokens):
            if isinstance(node, str) and node in named:
                node = named[node]
            token = tokens[i]
            if token == "fields":
                field = node["fields"][int(tokens[i + 1])]
                path += f".{field['name']}"
                node = field
                i += 2
                continue
            if token == "type":
                node = node["type"]
            elif token == "items":
                node, path = node["items"], path + "[]"
            elif token == "values":
                node, path = node["values"], path + "{}"
            elif token.isdigit() and isinstance(node, list):
                node = node[int(token)]
            i += 1
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return path


def _collect_named(schema: Any, named: dict[str, Any], namespace: str) -> None:
    if isinstance(schema, list):
        for s in schema:
            _collect_named(s, named, namespace)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed") and "name" in schema:
            ns = schema.get("namespace", namespace)
            name = schema["name"] if "." in schema["name"] else f"{ns}.{schema['name']}"
            named[name] = schema
            named[schema["name"]] = schema
            namespace = ns
        for key in ("type", "items", "values"):
            if key in schema and not isinstance(schema[key], str):
                _collect_named(schema[key], named, namespace)
        for field in schema.get("fields", ()):
            _collect_named(field.get("type"), named, namespace)
