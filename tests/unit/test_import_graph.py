"""Import graph rules beyond the core's purity: gati.testing and gati.simulate stay acyclic.

``gati.simulate`` is built on ``gati.testing``'s tools (scripted modules, request
building), so the arrow points simulate -> testing and never back. The one module that
names both is the pytest plugin, an adapter pytest loads by entry point: nothing in
``gati.testing`` imports it, so importing ``gati.testing`` never loads the simulator.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import gati

GATI = Path(gati.__file__).resolve().parent
PLUGIN = "gati.testing.pytest_plugin"


def _module(path: Path) -> str:
    parts = list(path.relative_to(GATI.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _edges(package: str) -> dict[str, set[str]]:
    root = GATI / package.split(".", 1)[1]
    return {_module(p): _imports(p) for p in root.rglob("*.py")}


def test_no_gati_testing_module_imports_the_simulator() -> None:
    back = {module: sorted(n for n in names if n.startswith("gati.simulate"))
            for module, names in _edges("gati.testing").items() if module != PLUGIN}
    assert {m: n for m, n in back.items() if n} == {}


def test_nothing_in_gati_imports_the_pytest_plugin() -> None:
    importers = [p for p in GATI.rglob("*.py") if PLUGIN in _imports(p)]
    assert importers == []


def test_importing_gati_testing_does_not_load_the_simulator() -> None:
    code = ("import sys, gati.testing; "
            "print(any(m.startswith('gati.simulate') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "False"
