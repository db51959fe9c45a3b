"""Describe a module from its class: methods with typed parameters, declared attributes.

A module is registered as ``app.module("db")(Factory)``. When the factory is a class
(the usual case) its public methods are the module's API; when it is a function whose
return annotation names a class, that class is used. Otherwise the module's methods
are unknown (``analyzed: false``) and nothing about them is guessed.

Capabilities and network egress are declared by the class, never inferred::

    class Mailer:
        __gati_capabilities__ = ("email.send",)
        __gati_egress__ = ("smtp.example.com:587",)

An out-of-process module (``gati.modules.process_module``) is described from its own
manifest instead: its runtime, its declared methods (JSON Schema types read as GTypes,
so ``gati contracts check`` holds handler calls to them) and its capabilities, written
``read:PATH``, ``write:PATH``, ``secret:NAME``, ``env:NAME`` beside its egress.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from gati.core.app import ModuleSpec
from gati.errors import AppError
from gati.manifest._model import ModuleManifest, ModuleMethod, ModulePolicy, Param, TypeRef
from gati.modules import ProcessModuleFactory, ProcessSpec
from gati.types import GType, analyze

LIFECYCLE = frozenset({"start", "close"})
_KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: "positional_only",
    inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional_or_keyword",
    inspect.Parameter.VAR_POSITIONAL: "var_positional",
    inspect.Parameter.KEYWORD_ONLY: "keyword_only",
    inspect.Parameter.VAR_KEYWORD: "var_keyword",
}
ANY = GType("any")


class TypeTable:
    """GTypes met while building a manifest, by fingerprint."""

    def __init__(self) -> None:
        self.types: dict[str, GType] = {}

    def ref(self, gtype: GType) -> TypeRef:
        fp = gtype.fingerprint()
        self.types.setdefault(fp, gtype)
        return TypeRef(gtype.name or gtype.describe(), fp)


def qualified(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    return f"{module}.{getattr(obj, '__qualname__', type(obj).__name__)}"


def module_class(factory: Callable[..., Any]) -> type | None:
    """The class a module factory makes, when it can be known without calling it."""
    if isinstance(factory, type):
        return factory
    try:
        hints = typing.get_type_hints(factory)
    except Exception:  # unresolvable annotations: unknown, not an error
        return None
    made = hints.get("return")
    return made if isinstance(made, type) else None


def _declared(cls: type, attr: str, module: str) -> tuple[str, ...]:
    value = getattr(cls, attr, ())
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise AppError(f"module {module!r}: {cls.__name__}.{attr} must be a tuple of strings")
    return tuple(value)


def describe_module(spec: ModuleSpec, table: TypeTable) -> ModuleManifest:
    """The manifest entry of one registered module."""
    policy = ModulePolicy(
        timeout_s=spec.policy.timeout_s,
        retries=spec.policy.retries,
        retry_on=tuple(qualified(e) for e in spec.policy.retry_on),
    )
    if isinstance(spec.factory, ProcessModuleFactory):
        return _process_module(spec.name, spec.factory.spec, policy, table)
    cls = module_class(spec.factory)
    if cls is None:
        return ModuleManifest(spec.name, "python", qualified(spec.factory), False, (), (),
                              policy, ())
    methods = tuple(
        _method(cls, name, table)
        for name in sorted(dir(cls))
        if not name.startswith("_") and name not in LIFECYCLE and _is_method(cls, name)
    )
    return ModuleManifest(
        module_id=spec.name,
        runtime="python",
        factory=qualified(cls),
        analyzed=True,
        capabilities=_declared(cls, "__gati_capabilities__", spec.name),
        egress=_declared(cls, "__gati_egress__", spec.name),
        policy=policy,
        methods=methods,
    )


_JSON_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": float,
                               "boolean": bool, "object": dict[str, Any], "array": list[Any],
                               "null": type(None)}


def _process_module(name: str, spec: ProcessSpec, policy: ModulePolicy,
                    table: TypeTable) -> ModuleManifest:
    caps = spec.capabilities
    declared = (*(f"read:{p}" for p in caps.read), *(f"write:{p}" for p in caps.write),
                *(f"secret:{n}" for n in caps.secrets), *(f"env:{n}" for n in caps.env))
    methods = tuple(
        ModuleMethod(
            name=m.name, is_async=True,
            params=tuple(Param(n, "positional_or_keyword", True, None,
                               table.ref(_schema_gtype(schema))) for n, schema in m.params),
            returns=table.ref(_schema_gtype(m.returns)), returns_annotation=None)
        for m in spec.methods)
    return ModuleManifest(name, spec.runtime, f"{spec.runtime}:{' '.join(spec.entry)}", True,
                          declared, caps.egress, policy, methods)


def _schema_gtype(schema: Any) -> GType:
    """A declared JSON Schema's top-level type as a GType; anything finer reads as any."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    hint = _JSON_TYPES.get(kind) if isinstance(kind, str) else None
    return ANY if hint is None else _gtype(hint)


def _is_method(cls: type, name: str) -> bool:
    raw = inspect.getattr_static(cls, name)
    if isinstance(raw, staticmethod | classmethod):
        return True
    return inspect.isfunction(raw)


def _method(cls: type, name: str, table: TypeTable) -> ModuleMethod:
    raw = inspect.getattr_static(cls, name)
    func = raw.__func__ if isinstance(raw, staticmethod | classmethod) else raw
    sig = inspect.signature(func)
    params = list(sig.parameters.values())
    if not isinstance(raw, staticmethod) and params:
        params = params[1:]  # self or cls
    hints = _hints(func)
    out = []
    for p in params:
        hint = hints.get(p.name, inspect.Parameter.empty)
        out.append(
            Param(
                name=p.name,
                kind=_KINDS[p.kind],
                required=p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD),
                annotation=_text(p.annotation),
                type=table.ref(_gtype(hint)),
            )
        )
    returns = hints.get("return", inspect.Parameter.empty)
    return ModuleMethod(
        name=name,
        is_async=inspect.iscoroutinefunction(func),
        params=tuple(out),
        returns=table.ref(_gtype(returns)),
        returns_annotation=_text(sig.return_annotation),
    )


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    """Resolved annotations; one that cannot be resolved is left out (reads as any)."""
    try:
        return typing.get_type_hints(func, include_extras=True)
    except Exception:  # NameError / TypeError: resolve one by one below
        pass
    hints: dict[str, Any] = {}
    globals_ = getattr(func, "__globals__", {})
    for name, ann in getattr(func, "__annotations__", {}).items():
        try:
            hints[name] = eval(ann, globals_) if isinstance(ann, str) else ann
        except Exception:  # an annotation naming something missing: unknown
            continue
    return hints


def _gtype(hint: Any) -> GType:
    if hint is inspect.Parameter.empty:
        return ANY
    try:
        return analyze(hint)
    except AppError:
        return ANY


def _text(annotation: Any) -> str | None:
    if annotation is inspect.Parameter.empty:
        return None
    if isinstance(annotation, str):
        return annotation
    return inspect.formatannotation(annotation)
