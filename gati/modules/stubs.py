"""Typed stubs for out-of-process modules: one ``Protocol`` per module, from its manifest.

A handler that asks for a module by its stub, ``gctx.modules.get("ids", IdsModule)``, is
checked by mypy against the module's declared methods and parameter types, although the
module is a Go binary. ``gati modules stubs --app APP`` writes them; the JSON Schema
types map to the Python types their JSON decodes to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gati.modules.spec import ProcessSpec

_PY = {"string": "str", "integer": "int", "number": "float", "boolean": "bool",
       "object": "dict[str, Any]", "array": "list[Any]", "null": "None"}


def python_type(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        names = [_PY.get(k, "Any") for k in kind if isinstance(k, str)]
        return "Any" if "Any" in names or not names else " | ".join(dict.fromkeys(names))
    if kind == "array" and isinstance(schema.get("items"), Mapping):
        return f"list[{python_type(schema['items'])}]"
    return _PY.get(kind, "Any") if isinstance(kind, str) else "Any"


def class_name(module: str) -> str:
    return "".join(part.capitalize() for part in module.split("_")) + "Module"


def render_stubs(specs: Iterable[ProcessSpec], *, source: str) -> str:
    out = [f'"""Typed stubs of out-of-process modules, generated from {source} by\n'
           '``gati modules stubs``; do not edit."""', "",
           "from __future__ import annotations", "", "from typing import Any, Protocol", ""]
    for spec in sorted(specs, key=lambda s: s.name):
        out += ["", f"class {class_name(spec.name)}(Protocol):",
                f'    """``gctx.modules.get("{spec.name}", {class_name(spec.name)})``: '
                f'{spec.runtime} module."""', ""]
        for m in spec.methods:
            params = "".join(f", {n}: {python_type(s)}" for n, s in m.params)
            out.append(f"    async def {m.name}(self{params}) -> {python_type(m.returns)}: ...")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
