"""Toolchains the generated clients are checked with: mypy (in the venv) and tsc (npm).

tsc is installed once with npm into ``~/.cache/gati/tsc`` (outside the repository).
When it cannot be installed the test fails if GATI_REQUIRE_SERVICES=1 (CI), else skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gati.manifest import AppManifest

TSC_PREFIX = Path(os.environ.get("GATI_TSC_PREFIX", Path.home() / ".cache" / "gati" / "tsc"))
TYPESCRIPT = "typescript@5"
REQUIRED = os.environ.get("GATI_REQUIRE_SERVICES") == "1" or os.environ.get("CI") == "true"
TSC_FLAGS = ["--strict", "--target", "ES2022", "--module", "NodeNext",
             "--moduleResolution", "NodeNext", "--lib", "ES2022,DOM", "--skipLibCheck"]


def _unavailable(message: str) -> None:
    if REQUIRED:
        pytest.fail(f"{message} (GATI_REQUIRE_SERVICES=1: the toolchain is required)",
                    pytrace=False)
    pytest.skip(message)


def ensure_tsc() -> Path:
    """The tsc binary, installing TypeScript with npm on first use."""
    tsc = TSC_PREFIX / "node_modules" / ".bin" / "tsc"
    if tsc.exists():
        return tsc
    npm = shutil.which("npm")
    if npm is None:
        _unavailable("npm is not installed, so tsc cannot be installed")
    TSC_PREFIX.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [str(npm), "install", "--no-audit", "--no-fund", "--prefix", str(TSC_PREFIX), TYPESCRIPT],
        capture_output=True, text=True, timeout=300, check=False,
    )
    if done.returncode != 0 or not tsc.exists():
        _unavailable(f"npm install {TYPESCRIPT} failed: {done.stderr[-2000:]}")
    return tsc


def node() -> str:
    found = shutil.which("node")
    if found is None:
        _unavailable("node is not installed")
    return str(found)


def write(files: dict[str, str], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def mypy_strict(package_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run ``mypy --strict`` on a generated package, in its parent directory."""
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
         "--cache-dir", os.devnull, package_dir.name],
        cwd=package_dir.parent, capture_output=True, text=True, timeout=180, check=False,
    )


def tsc_check(directory: Path) -> subprocess.CompletedProcess[str]:
    """``tsc --strict --noEmit`` on every .ts file of ``directory`` (as ES modules)."""
    tsc = ensure_tsc()
    (directory / "package.json").write_text('{"type": "module"}\n')
    files = sorted(p.name for p in directory.glob("*.ts"))
    return subprocess.run([str(tsc), *TSC_FLAGS, "--noEmit", *files], cwd=directory,
                          capture_output=True, text=True, timeout=180, check=False)


def tsc_build(directory: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """Compile the .ts files of ``directory`` to ES modules in ``out``."""
    tsc = ensure_tsc()
    files = sorted(p.name for p in directory.glob("*.ts"))
    out.mkdir(parents=True, exist_ok=True)
    for where in (directory, out):  # NodeNext: ES modules, as package.json says
        (where / "package.json").write_text('{"type": "module"}\n')
    return subprocess.run([str(tsc), *TSC_FLAGS, "--outDir", str(out), *files], cwd=directory,
                          capture_output=True, text=True, timeout=180, check=False)


def manifest_of(spec: str) -> AppManifest:
    from gati.cli.loader import load_app
    from gati.manifest import build_manifest

    return build_manifest(load_app(spec))
