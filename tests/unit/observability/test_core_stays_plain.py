"""The core knows only the ports: no Prometheus or OpenTelemetry import below gati/core."""

from __future__ import annotations

import ast
from pathlib import Path

import gati.core

CORE = Path(gati.core.__file__).resolve().parent
LIBRARIES = ("prometheus_client", "opentelemetry", "gati.observability")


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_core_module_imports_prometheus_or_opentelemetry() -> None:
    offenders = {
        path.name: sorted(n for n in imports(path) for lib in LIBRARIES
                          if n == lib or n.startswith(lib + "."))
        for path in sorted(CORE.rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert "pipeline.py" in offenders  # the scan saw the core
