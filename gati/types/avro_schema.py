"""GType -> Avro schema, and a fastavro codec for values of that GType.

Mapping (the JSON data model on the left, Avro on the right):

- object -> record named after the GType name, in namespace ``gati.app.<app>.<handler>``
  (a name used again, or a recursive ref, is written as the full name);
- enum of str values that are Avro names -> enum; other enums and literals -> their
  primitive (string / long / boolean, or a union of them);
- nullable -> union with ``"null"``; an optional field without default -> ``["null", T]``
  with default null (absent comes back absent); a field default -> the Avro default, so
  adding an optional field stays backward compatible;
- array / map -> array / map; integer -> long; number -> double; bytes -> bytes;
- datetime -> ``timestamp-micros`` (date-time) or ``date``; uuid strings -> ``uuid``;
- any -> a string holding the value's JSON text (Avro has no "any").

Schema and codec are built in one walk (``_Builder``) so they cannot disagree. Union
branches are chosen explicitly (fastavro's tuple notation) with the compiled validators,
never by fastavro guessing from the Python value.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fastavro

from gati.errors import AppError, CodecError
from gati.types.formats import decode_bytes, encode_bytes
from gati.types.model import GType
from gati.types.validate import compile_validator

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAMED = ("record", "enum", "fixed")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_DAY = dt.date(1970, 1, 1).toordinal()
_DATUM_BRANCH: dict[type, str] = {
    str: "string",
    int: "long",
    float: "double",
    bool: "boolean",
    bytes: "bytes",
    list: "array",
    dict: "map",
    dt.datetime: "long",
    dt.date: "int",
}
_LITERAL_TYPES = {str: "string", int: "long", bool: "boolean"}


def _same(value: Any) -> Any:
    return value


def namespace_for(app: str, handler: str) -> str:
    """``gati.app.<app>.<handler>`` with each part made a valid Avro name."""
    return ".".join(["gati", "app", avro_name(app), *(avro_name(p) for p in handler.split("."))])


def canonical(avro_schema: Any) -> str:
    """An Avro schema (JSON text or parsed) as sorted, compact JSON: what identifies it in
    the schema store and what two processes compare."""
    parsed = json.loads(avro_schema) if isinstance(avro_schema, str) else avro_schema
    return json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def root_name(handler: str, side: str) -> str:
    """``CreateUserRequest``: the root record name of a handler's unnamed body type."""
    return "".join(p[:1].upper() + p[1:] for p in handler.split("_")) + side.title()


def avro_name(text: str) -> str:
    """``text`` as an Avro name: other characters become ``_``; never starts with a digit."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return f"_{name}" if not name or name[0].isdigit() else name


def to_avro(gtype: GType, *, namespace: str, name: str | None = None) -> Any:
    """The Avro schema (JSON-able) of ``gtype``.

    Args:
        gtype: the contract type.
        namespace: e.g. ``namespace_for("users", "create_user")``.
        name: the record name of an anonymous root object (default ``Root``).

    Raises:
        AppError: the type has no Avro form (e.g. a union of two arrays, a field name
            that is not an Avro name).
    """
    return _Builder(namespace).node(gtype, name or "Root").schema


class AvroCodec:
    """Encode / decode JSON-model values of one GType with fastavro (schemaless)."""

    def __init__(self, gtype: GType, *, namespace: str, name: str | None = None) -> None:
        root = _Builder(namespace).node(gtype, name or "Root")
        self.gtype = gtype
        self.namespace = namespace
        self.name = name
        self.schema: Any = root.schema
        try:
            self.parsed = fastavro.parse_schema(root.schema)
        except Exception as exc:  # fastavro raises plain Exceptions for bad schemas
            raise AppError(f"{gtype.describe()}: no valid Avro schema: {exc}") from None
        self._write = root.write
        self._read = root.read

    def spec(self) -> dict[str, Any]:
        """What rebuilds this codec elsewhere (``from_spec``): the schema store keeps it
        next to the schema, because the Avro schema alone does not say how to give back
        JSON-model values (which union branch, "any" as JSON text, date formats)."""
        return {"gtype": self.gtype.to_json(), "namespace": self.namespace, "name": self.name}

    @classmethod
    def from_spec(cls, spec: Any) -> AvroCodec:
        """Rebuild a codec from ``spec()`` output (read from the store: untrusted).

        Raises:
            CodecError: not a codec spec.
        """
        try:
            return cls(GType.from_json(spec["gtype"]), namespace=str(spec["namespace"]),
                       name=None if spec.get("name") is None else str(spec["name"]))
        except (KeyError, TypeError, ValueError, AttributeError, AppError) as exc:
            raise CodecError(f"not a body codec spec: {type(exc).__name__}: {exc}") from None

    def encode(self, value: Any) -> bytes:
        """Avro bytes of a value that passed the GType's validator.

        Raises:
            CodecError: the value does not fit the schema.
        """
        out = io.BytesIO()
        try:
            fastavro.schemaless_writer(out, self.parsed, self._write(value))
        except CodecError:
            raise
        except Exception as exc:
            raise CodecError(f"cannot encode as {self.gtype.describe()}: {exc}") from None
        return out.getvalue()

    def decode(self, data: bytes, *, writer_schema: Any = None) -> Any:
        """The JSON-model value of ``data``; ``writer_schema`` resolves an older writer.

        Raises:
            CodecError: the bytes are not a value of the schema.
        """
        writer = self.parsed if writer_schema is None else fastavro.parse_schema(writer_schema)
        reader = None if writer_schema is None else self.parsed
        try:
            datum = fastavro.schemaless_reader(
                io.BytesIO(data), writer, reader, return_named_type=True
            )
            return self._read(datum)
        except Exception as exc:
            raise CodecError(f"cannot decode {self.gtype.describe()}: {exc}") from None


@dataclass(slots=True)
class _IO:
    schema: Any
    write: Callable[[Any], Any]
    read: Callable[[Any], Any]


def _branch(schema: Any) -> str:
    """The name fastavro's union tuple notation uses for one branch."""
    if isinstance(schema, str):
        return schema
    if schema["type"] in _NAMED:
        return f"{schema['namespace']}.{schema['name']}"
    return str(schema["type"])


def _untag(value: Any) -> Any:
    return value[1] if type(value) is tuple else value


class _Builder:
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.fullnames: dict[str, str] = {}  # GType name -> Avro full name
        self.defs: dict[str, GType] = {}  # Avro full name -> definition
        self.ios: dict[str, _IO] = {}  # GType name -> finished definition

    def node(self, t: GType, hint: str) -> _IO:
        inner = self.bare(t, hint)
        return self.nullable(inner) if t.nullable and t.kind not in ("null", "any") else inner

    @staticmethod
    def nullable(inner: _IO) -> _IO:
        if isinstance(inner.schema, list):
            w, r = inner.write, inner.read
            schema = ["null", *(s for s in inner.schema if s != "null")]
            return _IO(schema, lambda v: None if v is None else w(v),
                       lambda d: None if d is None else r(d))
        name, w, r = _branch(inner.schema), inner.write, inner.read
        return _IO(["null", inner.schema], lambda v: None if v is None else (name, w(v)),
                   lambda d: None if d is None else r(_untag(d)))

    def bare(self, t: GType, hint: str) -> _IO:
        kind, fmt = t.kind, t.constraints.format
        if kind == "string":
            if fmt == "uuid":
                return _IO({"type": "string", "logicalType": "uuid"}, _same, str)
            return _IO("string", _same, _same)
        if kind in ("integer", "number", "boolean", "null"):
            prim = {"integer": "long", "number": "double", "boolean": "boolean", "null": "null"}
            return _IO(prim[kind], _same, _same)
        if kind == "bytes":
            return _IO("bytes", decode_bytes, encode_bytes)
        if kind == "datetime":
            if fmt == "date":
                return _IO({"type": "int", "logicalType": "date"}, dt.date.fromisoformat,
                           _isoformat)
            return _IO({"type": "long", "logicalType": "timestamp-micros"},
                       dt.datetime.fromisoformat, _isoformat)
        if kind == "any":
            return _IO({"type": "string", "gati.kind": "any"}, _json_text, json.loads)
        if kind == "enum":
            return self.enum(t, hint)
        if kind == "literal":
            return _literal(t.enum)
        if kind == "array":
            return self.array(t, hint)
        if kind == "map":
            return self.map(t, hint)
        if kind == "object":
            return self.record(t, hint)
        if kind == "ref":
            return self.ref(t.ref or "")
        return self.union(t, hint)

    def define(self, t: GType, hint: str) -> tuple[str, bool]:
        """(Avro full name, already defined) of a named type; raises on a name clash."""
        key = t.name or hint
        if key in self.fullnames:
            return self.fullnames[key], True
        full = f"{self.namespace}.{avro_name(key.replace('.', '_'))}"
        if full in self.defs:
            raise AppError(f"{key}: its Avro name {full} is taken by another type")
        self.fullnames[key] = full
        self.defs[full] = t
        return full, False

    def enum(self, t: GType, hint: str) -> _IO:
        if not all(isinstance(v, str) and _NAME.fullmatch(v) for v in t.enum):
            return _literal(t.enum)
        full, seen = self.define(t, hint)
        if seen:
            return _IO(full, _same, _same)
        namespace, name = full.rsplit(".", 1)
        schema = {"type": "enum", "name": name, "namespace": namespace, "symbols": list(t.enum)}
        return _IO(schema, _same, _same)

    def array(self, t: GType, hint: str) -> _IO:
        items = self.node(t.items or GType("any"), f"{hint}Item")
        w, r = items.write, items.read
        return _IO({"type": "array", "items": items.schema},
                   lambda v: [w(x) for x in v], lambda d: [r(x) for x in d])

    def map(self, t: GType, hint: str) -> _IO:
        values = self.node(t.values or GType("any"), f"{hint}Value")
        w, r = values.write, values.read
        return _IO({"type": "map", "values": values.schema},
                   lambda v: {k: w(x) for k, x in v.items()},
                   lambda d: {k: r(x) for k, x in d.items()})

    def ref(self, name: str) -> _IO:
        if name not in self.fullnames:
            raise AppError(f"ref {name!r} does not point at an enclosing named type")
        return _IO(self.fullnames[name], lambda v: self.ios[name].write(v),
                   lambda d: self.ios[name].read(d))

    def record(self, t: GType, hint: str) -> _IO:
        full, seen = self.define(t, hint)
        key = t.name or hint
        if seen:
            return self.ref(key)
        namespace, name = full.rsplit(".", 1)
        fields: list[dict[str, Any]] = []
        plan: list[tuple[str, Callable[[Any], Any], Callable[[Any], Any], bool]] = []
        for prop_name, prop in t.properties.items():
            if not _NAME.fullmatch(prop_name):
                raise AppError(f"{key}.{prop_name}: not a valid Avro field name")
            field, io_, drop_none = self.field(prop, prop_name in t.required, f"{name}_{prop_name}")
            fields.append({"name": prop_name, **field})
            plan.append((prop_name, io_.write, io_.read, drop_none))

        def write(value: Any) -> Any:
            return {k: w(value[k]) for k, w, _, _ in plan if k in value}

        def read(datum: Any) -> Any:
            out = {}
            for k, _, r, drop_none in plan:
                item = datum[k]
                if item is None and drop_none:
                    continue
                out[k] = r(item)
            return out

        self.ios[key] = io_ = _IO(
            {"type": "record", "name": name, "namespace": namespace, "fields": fields},
            write,
            read,
        )
        return io_

    def field(self, t: GType, required: bool, hint: str) -> tuple[dict[str, Any], _IO, bool]:
        """(Avro field minus name, its codec, absent-is-null) of one object property."""
        default = _NO_DEFAULT
        if t.has_default:
            if t.default is not None:
                t = _default_first(t)
            default = _avro_default(t, t.default)
        if required or (default is not _NO_DEFAULT and (t.default is not None or t.nullable)):
            io_ = self.node(t, hint)
            if default is not _NO_DEFAULT and t.nullable and t.default is not None:
                io_ = _IO([*(io_.schema[1:]), "null"], io_.write, io_.read)  # default first
            elif default is not _NO_DEFAULT and t.nullable:
                pass  # ["null", ...] with default null
            field: dict[str, Any] = {"type": io_.schema}
            if default is not _NO_DEFAULT:
                field["default"] = default
            return field, io_, False
        io_ = self.nullable(self.bare(t, hint))  # optional, absent written as null
        return {"type": io_.schema, "default": None}, io_, True

    def union(self, t: GType, hint: str) -> _IO:
        schema: list[Any] = []
        by_branch: dict[str, Callable[[Any], Any]] = {}
        writers: list[tuple[GType, Callable[[Any], Any]]] = []
        for i, variant in enumerate(t.variants):
            io_ = self.node(variant, f"{hint}{i}")
            tags = io_.schema if isinstance(io_.schema, list) else [io_.schema]
            for branch_schema in tags:
                branch = _branch(branch_schema)
                if branch in by_branch:
                    raise AppError(
                        f"{t.describe()}: no Avro form; two variants are written as {branch}"
                    )
                by_branch[branch] = io_.read
                schema.append(branch_schema)
            w = io_.write
            if not isinstance(io_.schema, list):
                name, w0 = _branch(io_.schema), io_.write
                w = _tagger(name, w0)
            if variant.kind == "ref":
                variant = self.defs[self.fullnames[variant.ref or ""]]
            writers.append((variant, w))
        checks: list[tuple[Callable[[Any], Any], Callable[[Any], Any], frozenset[str] | None]] = []

        def write(value: Any) -> Any:
            # Unknown keys are ignored by validation, so a dict may fit several record
            # variants; the one declaring all of its keys wins, else the first that fits.
            if not checks:
                defs = {name: self.defs[full] for name, full in self.fullnames.items()}
                checks.extend(
                    (compile_validator(v, defs=defs).function, w, _keys(v)) for v, w in writers
                )
            fallback = None
            for check, w, keys in checks:
                if not check(value):
                    if keys is None or type(value) is not dict or keys.issuperset(value):
                        return w(value)
                    fallback = fallback or w
            if fallback is not None:
                return fallback(value)
            raise CodecError(f"value fits no variant of {t.describe()}")

        def read(datum: Any) -> Any:
            if type(datum) is tuple:
                return by_branch[datum[0]](datum[1])
            return by_branch[_DATUM_BRANCH.get(type(datum), "string")](datum)

        return _IO(schema, write, read)


def _keys(t: GType) -> frozenset[str] | None:
    return frozenset(t.properties) if t.kind == "object" else None


def _tagger(name: str, write: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: (name, write(v))


def _literal(values: tuple[Any, ...]) -> _IO:
    prims: list[str] = []
    for v in values:
        prim = _LITERAL_TYPES.get(type(v), "string")
        if prim not in prims:
            prims.append(prim)
    if len(prims) == 1:
        return _IO(prims[0], _same, _same)
    return _IO(prims, lambda v: (_LITERAL_TYPES[type(v)], v), _same)


def _isoformat(value: dt.date) -> str:
    return value.isoformat()


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class _NoDefault:
    pass


_NO_DEFAULT: Any = _NoDefault()


def _default_first(t: GType) -> GType:
    """A union field's variants reordered so the default's variant is first (Avro rule)."""
    if t.kind != "union":
        return t
    for i, variant in enumerate(t.variants):
        try:
            fits = not compile_validator(variant)(t.default)
        except AppError:  # refers to an enclosing type; such defaults are not supported
            fits = False
        if fits:
            rest = t.variants[:i] + t.variants[i + 1 :]
            return t.with_(variants=(variant, *rest))
    return t


def _avro_default(t: GType, value: Any) -> Any:
    """The Avro JSON encoding of a field default, or ``_NO_DEFAULT`` if it has none."""
    if value is None:
        return None if t.nullable or t.kind == "null" else _NO_DEFAULT
    kind = t.kind
    if kind in ("string", "integer", "boolean", "enum", "literal"):
        return value
    if kind == "number":
        return float(value)
    if kind == "datetime":
        if t.constraints.format == "date":
            return dt.date.fromisoformat(value).toordinal() - _EPOCH_DAY
        delta = dt.datetime.fromisoformat(value) - _EPOCH
        return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    if kind == "bytes":
        return decode_bytes(value).decode("latin-1")
    if kind == "any":
        return _json_text(value)
    if kind == "array" and t.items is not None:
        items = [_avro_default(t.items, v) for v in value]
        return _NO_DEFAULT if any(v is _NO_DEFAULT for v in items) else items
    if kind == "map" and t.values is not None:
        values = {k: _avro_default(t.values, v) for k, v in value.items()}
        return _NO_DEFAULT if any(v is _NO_DEFAULT for v in values.values()) else values
    if kind == "union" and t.variants:
        return _avro_default(t.variants[0], value)
    return _NO_DEFAULT
