"""Architecture rules: the pure core stays free of I/O libraries and adapters."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import gati

GATI = Path(gati.__file__).resolve().parent
CORE = GATI / "core"
MAX_LINES = 600

FORBIDDEN_IN_CORE = (
    "faust", "aiokafka", "sqlalchemy", "alembic", "uvicorn", "asyncpg", "aiosqlite",
    "gati.log", "gati.store", "gati.gateway", "gati.worker", "gati.recorder", "gati.cli",
    "gati.dev",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(GATI.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module an import statement in ``source`` names (relative ones resolved)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def forbidden(names: set[str]) -> set[str]:
    return {n for n in names for bad in FORBIDDEN_IN_CORE if n == bad or n.startswith(bad + ".")}


CORE_FILES = sorted(CORE.rglob("*.py"))


def test_the_import_scanner_catches_every_import_form() -> None:
    # The rule below is only as good as the scanner: prove it sees each form.
    source = (
        "import aiokafka\n"
        "import sqlalchemy.ext.asyncio as sa\n"
        "from gati import store\n"
        "from gati.log.memory import MemoryLog\n"
        "from .. import recorder\n"
        "def f():\n    import uvicorn\n"
        "if TYPE_CHECKING:\n    from faust import App\n"
    )
    found = forbidden(imported_modules(source, "gati.core.x"))
    assert found >= {"aiokafka", "sqlalchemy.ext.asyncio", "gati.store", "gati.log.memory",
                     "gati.recorder", "uvicorn", "faust"}
    assert forbidden(imported_modules("from gati.core.ports import Clock", "gati.core.x")) == set()


def test_core_files_exist() -> None:
    assert {p.name for p in CORE_FILES} >= {"app.py", "pipeline.py", "routing.py", "ports.py"}


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: p.name)
def test_core_module_imports_no_io_library_or_adapter(path: Path) -> None:
    name = _module_name(path)
    importlib.import_module(name)  # it must import on its own, too
    names = imported_modules(path.read_text(), name, path.name == "__init__.py")
    assert forbidden(names) == set(), f"{name} imports {sorted(forbidden(names))}"


def test_no_module_under_gati_is_longer_than_600_lines() -> None:
    too_long = {
        str(p.relative_to(GATI.parent)): n
        for p in GATI.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert too_long == {}, f"split these modules (limit {MAX_LINES} lines): {too_long}"
