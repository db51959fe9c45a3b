"""Helpers of the module tests: specs of the test and example modules, process trees."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from gati.modules import ProcessSpec, load_spec
from gati.modules.protocol import MethodDecl
from gati.modules.spec import Capabilities, Limits, RestartPolicy

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
IDS = ROOT / "examples/users/modules/ids/gati-module.toml"
AVATAR = ROOT / "examples/users/modules/avatar/gati-module.toml"
# ``await started(spec)`` (the conftest fixture): a started module, closed after the test.
Started = Callable[..., Any]


def misbehaving_spec(root: Path, *, name: str = "misbehaving", **changes: Any) -> ProcessSpec:
    """The test module copied into ``root`` (its own version.txt), sandboxed."""
    shutil.copy(HERE / "misbehaving_module.py", root / "misbehaving_module.py")
    (root / "name.txt").write_text(name)
    sys.path.insert(0, str(HERE))
    try:
        import misbehaving_module as m
    finally:
        sys.path.remove(str(HERE))
    methods = tuple(MethodDecl(k, tuple(ps), r) for k, (ps, r) in sorted(m.METHODS.items()))
    spec = ProcessSpec(
        name=name, runtime="executable",
        entry=(str(Path(sys.executable).resolve()), "misbehaving_module.py"),
        methods=methods, root=str(root),
        capabilities=Capabilities(),
        limits=Limits(timeout_s=60.0, concurrency=64, max_frame_bytes=64 * 1024),
        restart=RestartPolicy(backoff_s=0.01, backoff_max_s=0.2, breaker_crashes=50))
    return replace(spec, **changes)


def ids_spec() -> ProcessSpec:
    return load_spec(IDS)


def avatar_spec() -> ProcessSpec:
    return load_spec(AVATAR)


def leaf_pid(pid: int) -> int:
    """The deepest descendant of ``pid``: the module itself, under unshare and bwrap."""
    while True:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if not children:
            return pid
        pid = int(children[0])
