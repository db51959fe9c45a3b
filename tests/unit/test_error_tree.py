"""The error tree drawn in ``gati.errors`` is the tree in the code, codes and all."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import gati
from gati import errors
from gati.errors import GatiError

GATI = Path(gati.__file__).resolve().parent
# Exceptions deliberately outside the tree; errors.py says why for each. (The generated
# clients' GatiApiError is text in gati/codegen/_pyruntime.py, not a class of Gati.)
OUTSIDE = {"InjectedFailure", "ReplayedModuleError", "BodyTooLarge"}


def _all_gati_errors() -> dict[str, type[GatiError]]:
    for info in pkgutil.walk_packages(gati.__path__, "gati."):
        if not info.name.endswith("pytest_plugin"):
            importlib.import_module(info.name)
    found: dict[str, type[GatiError]] = {}
    stack: list[type[GatiError]] = [GatiError]
    while stack:
        cls = stack.pop()
        if cls.__module__.startswith("gati."):
            found[cls.__name__] = cls
        stack.extend(cls.__subclasses__())
    return found


def _drawn() -> dict[str, tuple[str | None, str]]:
    """name -> (parent name, code) as the docstring draws them."""
    drawn: dict[str, tuple[str | None, str]] = {}
    parents: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        m = re.match(r"^\s{4}((?:[│ ] {3}|[├└]── )*)(\w+) \[(\w+)\]", line)
        if not m:
            continue
        depth = len(m.group(1)) // 4
        parents[depth:] = [m.group(2)]
        drawn[m.group(2)] = (parents[depth - 1] if depth else None, m.group(3))
    return drawn


def test_every_gati_error_is_drawn_under_its_real_parent_with_its_code() -> None:
    actual = _all_gati_errors()
    drawn = _drawn()
    assert sorted(drawn) == sorted(actual)
    for name, cls in actual.items():
        parent, code = drawn[name]
        bases = [b.__name__ for b in cls.__mro__[1:] if issubclass(b, GatiError)]
        assert parent == (bases[0] if bases else None), name
        assert code == cls.code, name


def test_codes_are_unique() -> None:
    codes = [cls.code for cls in _all_gati_errors().values()]
    assert len(codes) == len(set(codes))


def test_every_other_exception_class_in_gati_is_a_known_exception() -> None:
    gati_errors = set(_all_gati_errors())
    others = set()
    for path in GATI.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.name not in gati_errors and any(
                    re.search(r"(Exception|Error)$", ast.unparse(b)) for b in node.bases):
                others.add(node.name)
    assert others == OUTSIDE
