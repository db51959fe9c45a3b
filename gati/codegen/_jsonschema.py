"""GType -> JSON Schema 2020-12 (the dialect of OpenAPI 3.1).

Named objects become ``$ref``s to ``#/components/schemas/<id>``. Objects stay open
(no ``additionalProperties: false``) because Gati's validators ignore unknown keys.
Nullable types are ``anyOf [T, null]``; unions are ``anyOf`` (variants may overlap, so
``oneOf`` would reject values Gati accepts). Patterns keep their text: Gati matches
them with ``re.search``, as JSON Schema does, unanchored.
"""

from __future__ import annotations

from typing import Any

from gati.codegen._api import TypeIndex
from gati.types import GType

REF_PREFIX = "#/components/schemas/"
_PRIMITIVE = {"string": "string", "integer": "integer", "number": "number",
              "boolean": "boolean", "null": "null"}
_CONSTRAINTS = {
    "minimum": "minimum",
    "maximum": "maximum",
    "exclusive_minimum": "exclusiveMinimum",
    "exclusive_maximum": "exclusiveMaximum",
    "multiple_of": "multipleOf",
    "min_length": "minLength",
    "max_length": "maxLength",
    "pattern": "pattern",
    "min_items": "minItems",
    "max_items": "maxItems",
}


def component_schema(index: TypeIndex, cid: str) -> dict[str, Any]:
    """The JSON Schema of component ``cid`` (its object, expanded one level)."""
    t = index.components[cid]
    return _object(t, index, index.scope_for(cid))


def schema_of(t: GType, index: TypeIndex, scope: dict[str, str] | None = None) -> dict[str, Any]:
    """The JSON Schema of ``t``; named objects as refs to their components."""
    return _node(t, index, scope or {})


def _node(t: GType, index: TypeIndex, scope: dict[str, str]) -> dict[str, Any]:
    out = _bare(t, index, scope)
    if t.nullable and t.kind not in ("null", "any"):
        out = {"anyOf": [out, {"type": "null"}]}
    # 2020-12 allows keywords beside $ref, so annotations go on the outermost schema.
    if t.description and not (t.kind == "object" and t.name):  # else in its component
        out["description"] = t.description
    if t.has_default:
        out["default"] = t.default
    if t.secret:
        out["x-gati-secret"] = True
    return out


def _bare(t: GType, index: TypeIndex, scope: dict[str, str]) -> dict[str, Any]:
    kind = t.kind
    if kind in _PRIMITIVE:
        out: dict[str, Any] = {"type": _PRIMITIVE[kind]}
        _constraints(t, out)
        return out
    if kind == "bytes":
        out = {"type": "string", "contentEncoding": "base64"}
        _constraints(t, out)
        out.pop("minLength", None)  # counted in octets, not base64 characters
        out.pop("maxLength", None)
        return out
    if kind == "datetime":
        return {"type": "string", "format": t.constraints.format or "date-time"}
    if kind == "any":
        return {}
    if kind in ("enum", "literal"):
        return _enum(t)
    if kind == "array":
        out = {"type": "array", "items": _node(t.items or GType("any"), index, scope)}
        _constraints(t, out)
        return out
    if kind == "map":
        out = {"type": "object",
               "additionalProperties": _node(t.values or GType("any"), index, scope)}
        _constraints(t, out)
        if "minItems" in out:
            out["minProperties"] = out.pop("minItems")
        if "maxItems" in out:
            out["maxProperties"] = out.pop("maxItems")
        return out
    if kind == "ref":
        cid = scope.get(t.ref or "")
        return {"$ref": REF_PREFIX + cid} if cid else {"type": "object"}
    if kind == "object":
        if t.name:
            return {"$ref": REF_PREFIX + index.id_of(t)}
        return _object(t, index, scope)
    return {"anyOf": [_node(v, index, scope) for v in t.variants]}


def _object(t: GType, index: TypeIndex, scope: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object"}
    if t.name:
        out["title"] = t.name
    if t.description:
        out["description"] = t.description
    out["properties"] = {k: _node(v, index, scope) for k, v in t.properties.items()}
    if t.required:
        out["required"] = list(t.required)
    return out


def _enum(t: GType) -> dict[str, Any]:
    values = list(t.enum)
    types = {type(v) for v in values}
    out: dict[str, Any] = {"enum": values}
    if types == {str}:
        out["type"] = "string"
    elif types == {int}:
        out["type"] = "integer"
    elif types == {bool}:
        out["type"] = "boolean"
    if t.name:
        out["title"] = t.name
    return out


def _constraints(t: GType, out: dict[str, Any]) -> None:
    c = t.constraints
    for attr, key in _CONSTRAINTS.items():
        value = getattr(c, attr)
        if value is not None:
            out[key] = value
    if c.format and t.kind == "string":
        out["format"] = c.format
