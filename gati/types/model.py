"""GType: the one description of a contract type that everything else derives from.

Validators, Avro schemas, manifests, OpenAPI and compatibility reports are all computed
from a GType, never from the Python type directly, so they cannot disagree with each
other. A GType is plain data: frozen, hashable, and round-trips through JSON
(``to_json`` / ``from_json``) so it can be stored beside a handler version and compared
months later without the code that produced it.

Named types (dataclasses, TypedDicts, Enums) carry a ``name``. A recursive type refers
back to an enclosing named type with ``GType(kind="ref", ref=name)``; every ref points at
an ancestor, so any subtree rooted at a named type is self-contained.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, TypeVar, get_args

from gati.errors import CodecError

Kind = Literal[
    "string",
    "integer",
    "number",
    "boolean",
    "null",
    "object",
    "array",
    "map",
    "enum",
    "literal",
    "union",
    "bytes",
    "datetime",
    "any",
    "ref",
]
KINDS: frozenset[str] = frozenset(get_args(Kind))

# Formats a validator knows how to check. ``date-time`` and ``date`` also select the
# Avro logical type of a ``datetime`` GType; ``uuid`` that of a string.
FORMATS: frozenset[str] = frozenset(
    {"email", "uuid", "date-time", "date", "time", "uri", "ipv4", "ipv6"}
)

V = TypeVar("V")


class FrozenMap(Mapping[str, V]):
    """An immutable, hashable, insertion-ordered ``str -> V`` mapping.

    GTypes are frozen dataclasses used as cache keys; a ``dict`` field would make them
    unhashable. Order is kept because property order is part of the contract (it is the
    Avro field order).
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, items: Mapping[str, V] | None = None) -> None:
        self._data: dict[str, V] = dict(items or {})
        self._hash: int | None = None

    def __getitem__(self, key: str) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(tuple(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return list(self._data.items()) == list(other._data.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


_EMPTY: FrozenMap[Any] = FrozenMap()


@dataclass(frozen=True, slots=True)
class Constraints:
    """Value constraints. ``None`` means unconstrained.

    Length bounds apply to strings (characters) and bytes (octets); item bounds to
    arrays and maps; numeric bounds to integers and numbers.
    """

    minimum: int | float | None = None
    maximum: int | float | None = None
    exclusive_minimum: int | float | None = None
    exclusive_maximum: int | float | None = None
    multiple_of: int | float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    format: str | None = None
    min_items: int | None = None
    max_items: int | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def to_json(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Constraints:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise CodecError(f"unknown GType constraints {sorted(unknown)}")
        return cls(**data)


NO_CONSTRAINTS = Constraints()


@dataclass(frozen=True, slots=True)
class GType:
    """One node of a contract type.

    Attributes:
        kind: what the value is (see ``Kind``).
        name: stable name of a named type (dataclass / TypedDict / Enum qualname).
        ref: for ``kind == "ref"``, the ``name`` of the enclosing type referred to.
        properties: object fields in declaration order.
        required: the object fields that must be present.
        items: element type of an array.
        values: value type of a map (keys are always strings).
        enum: allowed values of an ``enum`` or ``literal``.
        variants: members of a ``union``.
        constraints: value constraints.
        nullable: ``None`` (JSON null) is also accepted.
        secret: never echo this value (or anything inside it) in diagnostics.
        description: documentation; not part of the fingerprint.
        default: the default of an optional property, when ``has_default``.
    """

    kind: Kind
    name: str | None = None
    ref: str | None = None
    properties: Mapping[str, GType] = _EMPTY
    required: tuple[str, ...] = ()
    items: GType | None = None
    values: GType | None = None
    enum: tuple[Any, ...] = ()
    variants: tuple[GType, ...] = ()
    constraints: Constraints = NO_CONSTRAINTS
    nullable: bool = False
    secret: bool = False
    description: str | None = None
    default: Any = field(default=None, hash=False)
    has_default: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown GType kind {self.kind!r}")
        if not isinstance(self.properties, FrozenMap):
            object.__setattr__(self, "properties", FrozenMap(self.properties))
        for name in ("required", "enum", "variants"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        if self.kind == "ref" and not self.ref:
            raise ValueError("a ref GType needs ref=<name of an enclosing named type>")

    # -- JSON ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict; keys are emitted in a fixed order and defaults are omitted."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.name is not None:
            out["name"] = self.name
        if self.ref is not None:
            out["ref"] = self.ref
        if self.properties:
            out["properties"] = {k: v.to_json() for k, v in self.properties.items()}
        if self.required:
            out["required"] = list(self.required)
        if self.items is not None:
            out["items"] = self.items.to_json()
        if self.values is not None:
            out["values"] = self.values.to_json()
        if self.enum:
            out["enum"] = list(self.enum)
        if self.variants:
            out["variants"] = [v.to_json() for v in self.variants]
        if not self.constraints.is_empty():
            out["constraints"] = self.constraints.to_json()
        if self.nullable:
            out["nullable"] = True
        if self.secret:
            out["secret"] = True
        if self.description is not None:
            out["description"] = self.description
        if self.has_default:
            out["default"] = self.default
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GType:
        """Inverse of ``to_json``.

        Raises:
            CodecError: ``data`` is not a GType document.
        """
        if not isinstance(data, Mapping) or data.get("kind") not in KINDS:
            raise CodecError(f"not a GType document: {str(data)[:120]}")
        unknown = set(data) - _JSON_KEYS
        if unknown:
            raise CodecError(f"unknown GType keys {sorted(unknown)}")
        try:
            return cls(
                kind=data["kind"],
                name=data.get("name"),
                ref=data.get("ref"),
                properties={k: cls.from_json(v) for k, v in data.get("properties", {}).items()},
                required=tuple(data.get("required", ())),
                items=cls.from_json(data["items"]) if "items" in data else None,
                values=cls.from_json(data["values"]) if "values" in data else None,
                enum=tuple(data.get("enum", ())),
                variants=tuple(cls.from_json(v) for v in data.get("variants", ())),
                constraints=Constraints.from_json(data.get("constraints", {})),
                nullable=bool(data.get("nullable", False)),
                secret=bool(data.get("secret", False)),
                description=data.get("description"),
                default=data.get("default"),
                has_default="default" in data,
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise CodecError(f"invalid GType document: {exc}") from None

    def canonical_json(self) -> str:
        """The fingerprinted text: compact JSON, descriptions dropped.

        Key order is fixed by ``to_json`` (property order is kept on purpose: it is the
        Avro field order). Descriptions are left out so that a documentation edit does
        not make a new Timescape version.
        """
        return json.dumps(
            _strip_descriptions(self.to_json()),
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )

    def fingerprint(self) -> str:
        """sha256 (hex) of ``canonical_json``: the Timescape fingerprint of a contract."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    # -- helpers ------------------------------------------------------------------------

    def with_(self, **changes: Any) -> GType:
        """``dataclasses.replace`` under a short name."""
        return replace(self, **changes)

    def describe(self) -> str:
        """A short human name of the type: ``string``, ``array of Item``, ``User | null``."""
        text = _describe(self)
        return f"{text} | null" if self.nullable and self.kind != "null" else text


_JSON_KEYS = frozenset(
    {
        "kind",
        "name",
        "ref",
        "properties",
        "required",
        "items",
        "values",
        "enum",
        "variants",
        "constraints",
        "nullable",
        "secret",
        "description",
        "default",
    }
)


def _strip_descriptions(doc: Any) -> Any:
    if isinstance(doc, dict):
        out: dict[str, Any] = {}
        for key, value in doc.items():
            if key == "description":
                continue
            if key == "default":
                out[key] = value  # a default is data, never a GType document
            elif key == "properties":
                out[key] = {k: _strip_descriptions(v) for k, v in value.items()}
            else:
                out[key] = _strip_descriptions(value)
        return out
    if isinstance(doc, list):
        return [_strip_descriptions(v) for v in doc]
    return doc


def _describe(t: GType) -> str:
    kind = t.kind
    if kind == "object":
        return f"object {t.name}" if t.name else "object"
    if kind == "ref":
        return f"object {t.ref}"
    if kind == "array":
        return f"array of {t.items.describe()}" if t.items is not None else "array"
    if kind == "map":
        return f"map of {t.values.describe()}" if t.values is not None else "map"
    if kind in ("enum", "literal"):
        shown = ", ".join(repr(v) for v in t.enum[:8])
        more = ", ..." if len(t.enum) > 8 else ""
        return f"one of {shown}{more}"
    if kind == "union":
        return " | ".join(v.describe() for v in t.variants)
    if kind == "datetime":
        return "date" if t.constraints.format == "date" else "date-time string"
    if kind == "string" and t.constraints.format:
        return f"{t.constraints.format} string"
    if kind == "bytes":
        return "base64 bytes"
    return kind


def walk(t: GType) -> Iterator[GType]:
    """Every node of ``t``, depth first, ``t`` included."""
    yield t
    for child in t.properties.values():
        yield from walk(child)
    if t.items is not None:
        yield from walk(t.items)
    if t.values is not None:
        yield from walk(t.values)
    for variant in t.variants:
        yield from walk(variant)
