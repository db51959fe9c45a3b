"""What every generator works from: the operations and named types of a manifest.

One operation per handler (not per version): the version chosen is the latest, or the
one ``version`` names (a label, a tag, or a timestamp: the latest at or before it). A
chosen version is *pinned*: the generated client sends it as ``X-Gati-Version`` so the
server answers with the contract the client was generated from.

Named object types (dataclasses, TypedDicts) become components, keyed by name and
fingerprint: the same name with two shapes (``User`` of v1 and of v2) gets two
components, the second suffixed ``_2``.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from gati.core.timescape import parse_tsv
from gati.manifest import AppManifest, DeclaredError, HandlerManifest, PathParam
from gati.types import GType

VERSION_HEADER = "X-Gati-Version"
VERSION_QUERY = "version"
REQUEST_ID_HEADER = "X-Request-Id"
# Statuses Gati itself may answer on any operation, with the structured error body.
GATI_ERRORS: dict[int, str] = {
    400: "invalid request: body fails validation (validation_failed, with issues), "
    "invalid_json, malformed_version",
    404: "no such route or resource (not_found), or unknown_version",
    405: "method not allowed on this path (method_not_allowed); see Allow",
    413: "request body too large (body_too_large)",
    500: "handler or hook failed (internal_error), or the response broke its contract "
    "(response_invalid)",
    503: "the event log or the version is unavailable; see Retry-After",
    504: "no answer before the deadline (gateway_timeout, handler_timeout)",
}


@dataclass(frozen=True, slots=True)
class Operation:
    name: str  # snake_case, unique: the Python method / OpenAPI operationId
    handler: HandlerManifest
    versions: tuple[str, ...]  # every version of the handler, labels with tags
    pinned: str | None  # the version the client sends, when one was asked for

    @property
    def method(self) -> str:
        return self.handler.method

    @property
    def openapi_path(self) -> str:
        return re.sub(r"\{([^}:]+)(:[^}]+)?\}", r"{\1}", self.handler.path)

    @property
    def path_params(self) -> tuple[PathParam, ...]:
        return self.handler.path_params

    @property
    def query_params(self) -> tuple[str, ...]:
        return tuple(q for q in self.handler.query_params if q != VERSION_QUERY)

    @property
    def success(self) -> tuple[int, ...]:
        return self.handler.statuses or (200,)

    @property
    def errors(self) -> tuple[DeclaredError, ...]:
        return self.handler.errors


@dataclass(slots=True)
class Api:
    """The manifest seen as operations and components."""

    manifest: AppManifest
    operations: list[Operation]
    types: TypeIndex

    def request(self, op: Operation) -> GType | None:
        ref = op.handler.request
        return None if ref is None else self.manifest.gtype(ref)

    def response(self, op: Operation) -> GType | None:
        ref = op.handler.response
        return None if ref is None else self.manifest.gtype(ref)


@dataclass(slots=True)
class TypeIndex:
    """Named object types -> component ids, with the names each one's refs can see."""

    components: dict[str, GType] = field(default_factory=dict)
    scopes: dict[str, dict[str, str]] = field(default_factory=dict)
    _ids: dict[tuple[str, str], str] = field(default_factory=dict)

    def collect(self, root: GType) -> None:
        self._walk(root, {})

    def _walk(self, t: GType, scope: dict[str, str]) -> None:
        if t.kind == "object" and t.name:
            key = _key(t)
            known = key in self._ids
            cid = self._ids.get(key) or self._allocate(t.name, key)
            scope = {**scope, t.name: cid}
            if known:
                return
            self.components[cid] = t
            self.scopes[cid] = scope
        for child in _children(t):
            self._walk(child, scope)

    def _allocate(self, name: str, key: tuple[str, str]) -> str:
        base = re.sub(r"[^A-Za-z0-9_]", "_", name) or "Type"
        if base[0].isdigit():
            base = f"T{base}"
        cid, n = base, 1
        while cid in self.components or cid in RESERVED:
            n += 1
            cid = f"{base}_{n}"
        self._ids[key] = cid
        self.components[cid] = GType("any")  # placeholder until filled
        return cid

    def id_of(self, t: GType) -> str:
        return self._ids[_key(t)]

    def scope_for(self, cid: str) -> dict[str, str]:
        return self.scopes[cid]


def _key(t: GType) -> tuple[str, str]:
    """A named type's identity: where it is used (nullable, a default) does not count."""
    bare = t.with_(nullable=False, default=None, has_default=False, description=None)
    return (t.name or "", bare.fingerprint())


# Names the generators use themselves; a type of the same name is suffixed.
RESERVED = frozenset({
    "Any", "Client", "GatiApiError", "ErrorBody", "ValidationIssue", "GatiError",
    "GatiErrorBody", "Literal", "Callable", "Mapping", "Response", "Error", "T", "TypeVar",
    "Array", "Record", "Promise", "Date", "Object", "String", "Number", "Boolean",
    "datetime", "dataclass", "field", "base64", "json", "httpx", "quote", "to_json",
})


def _children(t: GType) -> Iterator[GType]:
    yield from t.properties.values()
    if t.items is not None:
        yield t.items
    if t.values is not None:
        yield t.values
    yield from t.variants


def build_api(manifest: AppManifest, *, version: str | None = None) -> Api:
    """Operations (one per handler) and the component index of ``manifest``."""
    families: dict[str, list[HandlerManifest]] = {}
    for h in manifest.handlers:
        families.setdefault(h.handler_id, []).append(h)
    operations: list[Operation] = []
    names: set[str] = set()
    for hid, versions in families.items():
        versions.sort(key=lambda h: h.tsv_us)
        chosen, pinned = _choose(versions, version)
        name = unique(snake(chosen.name), names)
        labels = tuple(h.version + (f" ({', '.join(h.tags)})" if h.tags else "")
                       for h in versions)
        operations.append(Operation(name, chosen, labels, pinned))
        del hid
    index = TypeIndex()
    api = Api(manifest, operations, index)
    for op in operations:
        for t in (api.request(op), api.response(op)):
            if t is not None:
                index.collect(t)
    return api


def _choose(versions: list[HandlerManifest],
            wanted: str | None) -> tuple[HandlerManifest, str | None]:
    if wanted is None:
        return versions[-1], None
    for h in versions:
        if wanted == h.version or wanted in h.tags:
            return h, h.version
    try:
        at = parse_tsv(wanted)
    except (ValueError, OverflowError):
        return versions[-1], None
    before = [h for h in versions if h.tsv_us <= at]
    return (before[-1], wanted) if before else (versions[-1], None)


def snake(text: str) -> str:
    out = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", text)
    out = re.sub(r"[^A-Za-z0-9_]", "_", out).lower().strip("_") or "op"
    return f"op_{out}" if out[0].isdigit() else out


def camel(text: str) -> str:
    parts = [p for p in snake(text).split("_") if p]
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def identifier(text: str, taken: set[str] | None = None) -> str:
    """``text`` as a Python identifier that is not a keyword (``from`` -> ``from_``)."""
    out = re.sub(r"[^A-Za-z0-9_]", "_", text) or "_"
    if out[0].isdigit():
        out = f"_{out}"
    if keyword.iskeyword(out):
        out += "_"
    return unique(out, taken) if taken is not None else out


def unique(name: str, taken: set[str]) -> str:
    out, n = name, 1
    while out in taken:
        n += 1
        out = f"{name}_{n}"
    taken.add(out)
    return out


def status_text(status: int, declared: Mapping[int, list[str]]) -> str:
    codes = declared.get(status)
    base = GATI_ERRORS.get(status, "error")
    if codes:
        return f"{base}; declared by the handler: {', '.join(codes)}"
    return base
