"""The manifest's shape: frozen dataclasses that turn into JSON and back.

``docs/manifest-format.md`` documents every field; keep the two in step. JSON keys are
the dataclass field names, in declaration order; GTypes appear once, in ``types``, and
everything else refers to them by ``TypeRef`` (name + fingerprint).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from gati.errors import CodecError
from gati.types import GType

FORMAT = "gati.manifest/1"


@dataclass(frozen=True, slots=True)
class TypeRef:
    """A GType by name (for people) and fingerprint (the key into ``AppManifest.types``)."""

    name: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class PathParam:
    name: str
    type: str  # "int" or "str", the route pattern's converter


@dataclass(frozen=True, slots=True)
class HookInfo:
    hook_id: str
    kind: str  # before, after, catch, cleanup
    level: str  # global, route
    timeout_s: float | None
    retries: int


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    limit: int
    window_s: int
    per: str  # principal, ip or tenant
    text: str  # as declared, e.g. "100/minute"


@dataclass(frozen=True, slots=True)
class HandlerPolicy:
    timeout_s: float | None
    invalid_response: str = "error"  # or "warn": what a response breaking its type gets
    # gati.policy.RoutePolicy as the route declared it over the app's (issue 18).
    auth: str = "optional"  # required, optional or none
    roles: tuple[str, ...] = ()  # the principal needs one of them
    rate_limit: RateLimitInfo | None = None
    max_body: int | None = None
    idempotency: str | None = None  # required or optional


@dataclass(frozen=True, slots=True)
class ModuleCall:
    """One use of ``gctx.modules.<module>.<method>`` found in source (best effort).

    ``called`` is False for a reference that is not called on the spot (e.g. passed to
    ``lctx.compensate``); ``positional``/``keywords`` then describe the arguments passed
    along with it, when known.
    """

    module: str
    method: str
    site: str  # "handler" or the hook id
    line: int | None
    called: bool
    positional: int
    keywords: tuple[str, ...]
    star_args: bool
    star_kwargs: bool


@dataclass(frozen=True, slots=True)
class DeclaredError:
    """An error status the handler (or a hook) raises with literal status and code."""

    status: int
    code: str
    site: str


@dataclass(frozen=True, slots=True)
class SourceInfo:
    module: str | None
    qualname: str | None
    file: str | None
    line: int | None
    analyzed: bool  # False: no source, so modules/errors/statuses are unknown
    note: str | None = None


@dataclass(frozen=True, slots=True)
class HandlerManifest:
    handler_id: str
    summary: str | None  # the first line of the handler's docstring
    version: str
    tags: tuple[str, ...]
    tsv_us: int
    tsv: str | None  # ISO 8601 of tsv_us; None for the unversioned "initial"
    method: str
    path: str
    path_params: tuple[PathParam, ...]
    query_params: tuple[str, ...]
    request: TypeRef | None
    response: TypeRef | None
    hooks: tuple[HookInfo, ...]
    policy: HandlerPolicy
    fingerprint: str
    modules: tuple[ModuleCall, ...]
    statuses: tuple[int, ...]
    errors: tuple[DeclaredError, ...]
    source: SourceInfo

    @property
    def name(self) -> str:
        """The handler id's last part (``create_user``): what clients call the operation."""
        return self.handler_id.rsplit(".", 1)[-1]


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: str  # positional_only, positional_or_keyword, keyword_only, var_positional, ...
    required: bool
    annotation: str | None  # the annotation as written; None when unannotated
    type: TypeRef  # its GType, or the "any" GType when unannotated or not describable


@dataclass(frozen=True, slots=True)
class ModuleMethod:
    name: str
    is_async: bool
    params: tuple[Param, ...]
    returns: TypeRef
    returns_annotation: str | None


@dataclass(frozen=True, slots=True)
class ModulePolicy:
    timeout_s: float | None
    retries: int
    retry_on: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ModuleManifest:
    module_id: str
    runtime: str
    factory: str
    analyzed: bool  # False: the factory's class is unknown, so methods are unknown
    capabilities: tuple[str, ...]
    egress: tuple[str, ...]
    policy: ModulePolicy
    methods: tuple[ModuleMethod, ...]

    def method(self, name: str) -> ModuleMethod | None:
        return next((m for m in self.methods if m.name == name), None)


@dataclass(frozen=True, slots=True)
class AppManifest:
    """Everything Gati knows about an app's contracts, derived from its code."""

    format: str
    app: str
    fingerprint: str
    handlers: tuple[HandlerManifest, ...]
    modules: tuple[ModuleManifest, ...]
    types: Mapping[str, GType]

    def gtype(self, ref: TypeRef) -> GType:
        return self.types[ref.fingerprint]

    def module(self, name: str) -> ModuleManifest | None:
        return next((m for m in self.modules if m.module_id == name), None)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "types":
                out["types"] = {fp: t.to_json() for fp, t in value.items()}
            else:
                out[f.name] = _plain(value)
        return out

    def dumps(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_json(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AppManifest:
        """Read a manifest back (from ``gati manifest`` output or the ``manifests`` table).

        Raises:
            CodecError: not a manifest of a known format.
        """
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise CodecError(f"not a {FORMAT} document")
        try:
            return cls(
                format=data["format"],
                app=data["app"],
                fingerprint=data["fingerprint"],
                handlers=tuple(_handler(h) for h in data["handlers"]),
                modules=tuple(_module(m) for m in data["modules"]),
                types={fp: GType.from_json(t) for fp, t in data["types"].items()},
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise CodecError(f"invalid manifest: {type(exc).__name__}: {exc}") from None


def digest(document: Any) -> str:
    """sha256 (hex) of compact, key-sorted JSON: how every manifest fingerprint is made."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _ref(data: Any) -> TypeRef | None:
    return None if data is None else TypeRef(data["name"], data["fingerprint"])


def _handler(d: Mapping[str, Any]) -> HandlerManifest:
    src = d["source"]
    return HandlerManifest(
        handler_id=d["handler_id"],
        summary=d["summary"],
        version=d["version"],
        tags=tuple(d["tags"]),
        tsv_us=d["tsv_us"],
        tsv=d["tsv"],
        method=d["method"],
        path=d["path"],
        path_params=tuple(PathParam(p["name"], p["type"]) for p in d["path_params"]),
        query_params=tuple(d["query_params"]),
        request=_ref(d["request"]),
        response=_ref(d["response"]),
        hooks=tuple(HookInfo(**h) for h in d["hooks"]),
        policy=_policy(d["policy"]),
        fingerprint=d["fingerprint"],
        modules=tuple(
            ModuleCall(**{**c, "keywords": tuple(c["keywords"])}) for c in d["modules"]
        ),
        statuses=tuple(d["statuses"]),
        errors=tuple(DeclaredError(**e) for e in d["errors"]),
        source=SourceInfo(**src),
    )


def _policy(p: Mapping[str, Any]) -> HandlerPolicy:
    """Manifests written before issue 18 have no access policies: open routes."""
    rate = p.get("rate_limit")
    return HandlerPolicy(p["timeout_s"], p.get("invalid_response", "error"),
                         p.get("auth", "optional"), tuple(p.get("roles", ())),
                         None if rate is None else RateLimitInfo(**rate), p.get("max_body"),
                         p.get("idempotency"))


def _module(d: Mapping[str, Any]) -> ModuleManifest:
    methods = []
    for m in d["methods"]:
        params = tuple(
            Param(p["name"], p["kind"], p["required"], p["annotation"], TypeRef(**p["type"]))
            for p in m["params"]
        )
        methods.append(
            ModuleMethod(m["name"], m["is_async"], params, TypeRef(**m["returns"]),
                         m["returns_annotation"])
        )
    pol = d["policy"]
    return ModuleManifest(
        module_id=d["module_id"],
        runtime=d["runtime"],
        factory=d["factory"],
        analyzed=d["analyzed"],
        capabilities=tuple(d["capabilities"]),
        egress=tuple(d["egress"]),
        policy=ModulePolicy(pol["timeout_s"], pol["retries"], tuple(pol["retry_on"])),
        methods=tuple(methods),
    )
