"""From validated JSON data to the declared Python type, and back to JSON data.

``compile_converter(tp)`` builds, once, a function that turns JSON data *that already
passed the validator of* ``analyze(tp)`` into ``tp``'s values: dataclass instances,
Enum members, ``datetime`` / ``date`` / ``UUID`` / ``bytes``, sets and tuples. It does
not re-check anything (that is the validator's job), so on unvalidated input it may raise
or build garbage. It is generated code, like the validator, so a request body pays one
call per dataclass and nothing for fields that need no conversion.

It walks the Python type rather than the GType because a GType deliberately forgets
things that are not part of the wire contract (``set`` vs ``list``, which class a
``date`` came from).

``to_builtins(value)`` goes the other way for responses: dataclasses, Enums, dates, UUIDs,
bytes and sets become JSON data that a validator can check and ``json.dumps`` can write.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses
import datetime as dt
import enum
import inspect
import itertools
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from gati.types.analyzer import (
    analyze,
    is_typeddict,
    resolve_hints,
    strip_required,
    type_label,
    typeddict_required,
)
from gati.types.formats import decode_bytes, encode_bytes
from gati.types.validate import compile_validator

_NONE = type(None)
_LISTS = {list, cabc.Sequence, cabc.MutableSequence}
_SETS = {set, cabc.Set, cabc.MutableSet}
_MAPS = {dict, cabc.Mapping, cabc.MutableMapping}
_SCALARS: dict[Any, Any] = {
    float: float,
    dt.datetime: dt.datetime.fromisoformat,
    dt.date: dt.date.fromisoformat,
    uuid.UUID: uuid.UUID,
    bytes: decode_bytes,
}


def compile_converter(tp: Any) -> Callable[[Any], Any]:
    """A function converting JSON data valid for ``analyze(tp)`` into ``tp``'s values.

    Raises:
        AppError: ``tp`` is not a supported type (the same rules as ``analyze``).
    """
    analyze(tp)  # one set of rules and error messages for what is supported
    return _Conv().build(tp)


class _Conv:
    def __init__(self) -> None:
        self.ns: dict[str, Any] = {}
        self.funcs: list[list[str]] = []
        self.counter = 0
        self.by_class: dict[type, str] = {}

    def build(self, tp: Any) -> Callable[[Any], Any]:
        body = self.expr(tp, "x")
        main = ["def _convert(x):", f"    return {body or 'x'}"]
        source = "\n".join(itertools.chain(*self.funcs, main)) + "\n"
        exec(compile(source, "<gati.types converter>", "exec"), self.ns)
        fn: Callable[[Any], Any] = self.ns["_convert"]
        return fn

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def const(self, value: Any) -> str:
        name = self.fresh("_k")
        self.ns[name] = value
        return name

    def expr(self, tp: Any, x: str) -> str | None:
        """Source converting the value in ``x``, or None when it is already right."""
        origin = get_origin(tp)
        if origin is Annotated:
            return self.expr(tp.__origin__, x)
        if isinstance(tp, typing.NewType):
            return self.expr(tp.__supertype__, x)
        if origin is Literal:
            members = {a.value: a for a in get_args(tp) if isinstance(a, enum.Enum)}
            return f"{self.const(members)}.get({x}, {x})" if members else None
        if origin is Union or origin is types.UnionType:
            return self.union(get_args(tp), x)
        if origin is not None:
            return self.generic(origin, get_args(tp), x)
        if tp in _SCALARS:
            return f"{self.const(_SCALARS[tp])}({x})"
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return f"{self.const(tp)}({x})"
        if isinstance(tp, type) and (dataclasses.is_dataclass(tp) or is_typeddict(tp)):
            return f"{self.record(tp)}({x})"
        return None

    def generic(self, origin: Any, args: tuple[Any, ...], x: str) -> str | None:
        v = self.fresh("v")
        if origin in _MAPS:
            inner = self.expr(args[1], v)
            if inner is None:
                return None
            k = self.fresh("k")
            return f"{{{k}: {inner} for {k}, {v} in {x}.items()}}"
        inner = self.expr(args[0], v)
        if origin in _LISTS:
            return None if inner is None else f"[{inner} for {v} in {x}]"
        make = {frozenset: "frozenset", tuple: "tuple"}.get(origin, "set")
        return f"{make}({x})" if inner is None else f"{make}({inner} for {v} in {x})"

    def union(self, args: tuple[Any, ...], x: str) -> str | None:
        nullable = any(a is None or a is _NONE for a in args)
        rest = [a for a in args if a is not None and a is not _NONE]
        if len(rest) == 1:
            inner = self.expr(rest[0], x)
            if inner is None or not nullable:
                return inner
            return f"(None if {x} is None else {inner})"
        # Unknown keys are ignored by validation, so a dict may fit several record
        # branches: first look for one that declares all of its keys, then take any fit.
        branches: list[tuple[str, str, str | None]] = []
        converts = False
        for arg in rest:
            inner = self.expr(arg, "x")
            converts = converts or inner is not None
            gtype = analyze(arg)
            check = self.const(compile_validator(gtype).function)
            keys = self.const(frozenset(gtype.properties)) if gtype.kind == "object" else None
            branches.append((check, inner or "x", keys))
        if not converts:
            return None
        pick = self.fresh("_p")
        lines = [f"def {pick}(x):"]
        for check, inner, keys in branches:
            covers = f" and (type(x) is not dict or {keys}.issuperset(x))" if keys else ""
            lines += [f"    if not {check}(x){covers}:", f"        return {inner}"]
        for check, inner, keys in branches:
            if keys:
                lines += [f"    if not {check}(x):", f"        return {inner}"]
        self.funcs.append([*lines, "    return x"])
        return f"(None if {x} is None else {pick}({x}))" if nullable else f"{pick}({x})"

    def record(self, tp: type) -> str:
        if tp in self.by_class:
            return self.by_class[tp]
        self.by_class[tp] = fn = self.fresh("_c")
        hints = resolve_hints(tp, type_label(tp))
        if dataclasses.is_dataclass(tp):
            body = self.dataclass_body(tp, hints)
        else:
            body = self.typeddict_body(tp, hints)
        self.funcs.append([f"def {fn}(x):", *body])
        return fn

    def value(self, key: str, hint: Any) -> str:
        return self.expr(hint, f"x[{key!r}]") or f"x[{key!r}]"

    def dataclass_body(self, tp: type, hints: dict[str, Any]) -> list[str]:
        """Call ``__init__`` with every argument, defaults filled in by the generated code.

        Passing all arguments positionally is about twice as fast as building a keyword
        dict and keeps ``__init__`` / ``__post_init__`` semantics. It is used only when
        the signature is exactly the dataclass-generated one; otherwise keywords.
        """
        cls = self.const(tp)
        init = [f for f in dataclasses.fields(tp) if f.init]
        if _generated_signature(tp, init):
            args = []
            for f in init:
                value = self.value(f.name, hints[f.name])
                if f.default is not dataclasses.MISSING:
                    value = f"({value} if {f.name!r} in x else {self.const(f.default)})"
                elif f.default_factory is not dataclasses.MISSING:
                    value = f"({value} if {f.name!r} in x else {self.const(f.default_factory)}())"
                args.append(f"{f.name}={value}" if f.kw_only else value)
            return [f"    return {cls}({', '.join(args)})"]
        lines = ["    kw = {}"]
        for f in init:
            lines += [f"    if {f.name!r} in x:",
                      f"        kw[{f.name!r}] = {self.value(f.name, hints[f.name])}"]
        return [*lines, f"    return {cls}(**kw)"]

    def typeddict_body(self, tp: type, hints: dict[str, Any]) -> list[str]:
        required_keys = typeddict_required(tp, hints)
        items = [(k, strip_required(h)) for k, h in hints.items()]
        fixed = ", ".join(f"{k!r}: {self.value(k, h)}" for k, h in items if k in required_keys)
        lines = [f"    kw = {{{fixed}}}"]
        for key, hint in items:
            if key not in required_keys:
                lines += [f"    if {key!r} in x:", f"        kw[{key!r}] = {self.value(key, hint)}"]
        return [*lines, "    return kw"]


def _generated_signature(tp: type, init: list[dataclasses.Field[Any]]) -> bool:
    """Does ``tp(...)`` take exactly the init fields, in order, as dataclass makes it?"""
    try:
        params = list(inspect.signature(tp).parameters.values())
    except (TypeError, ValueError):
        return False
    if len(params) != len(init):
        return False
    for param, f in zip(params, init, strict=True):
        kind = param.KEYWORD_ONLY if f.kw_only else param.POSITIONAL_OR_KEYWORD
        if param.name != f.name or param.kind != kind:
            return False
    return True


def json_default(value: Any) -> Any:
    """``json.dumps(value, default=json_default)`` writes what ``to_builtins`` would give.

    The encoder calls it only for what JSON lacks, so a response made of dicts, lists and
    scalars is written at the C encoder's speed instead of being copied first (the
    worker's profile: a third of its pipeline time for a 1 KB response).
    """
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    text = _as_text(value)
    return str(value) if text is None else text


def _as_text(value: Any) -> str | None:
    """The JSON text of a date, time, UUID or bytes value; None for anything else."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return encode_bytes(bytes(value))
    return None


def to_builtins(value: Any) -> Any:
    """JSON data for ``value``: what a response validator checks and the client receives.

    Dataclasses become dicts (declared fields only), Enums their values, datetimes, dates
    and times ISO 8601 strings, UUIDs strings, bytes base64 text, sets and tuples lists.
    """
    if value is None or (isinstance(value, (str, int, float)) and not isinstance(value, enum.Enum)):
        return value
    if isinstance(value, enum.Enum):
        return to_builtins(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_builtins(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: to_builtins(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_builtins(v) for v in value]
    text = _as_text(value)
    return value if text is None else text
