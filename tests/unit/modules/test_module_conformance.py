"""``gati modules check`` and ``gati modules reload``, as a module author runs them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from modules_helpers import IDS, ROOT, Started, misbehaving_spec
from support import GATI, eventually

from gati.modules.spec import Limits


def _gati(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GATI, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_go_example_passes_every_check() -> None:
    out = _gati("modules", "check", str(IDS.parent / "bin/idsvc"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok   handshake: ids 1.0.0, protocol 1, 4 methods" in out.stdout
    assert "ok   unknown method: answers '[-32601]" in out.stdout
    assert "FAIL" not in out.stdout


def test_the_node_example_passes_every_check() -> None:
    out = _gati("modules", "check", "--runtime", "node", "index.js",
                cwd=ROOT / "examples/users/modules/avatar")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok   handshake: avatar 1.0.0" in out.stdout


def test_a_module_that_leaves_bad_arguments_unanswered_fails_the_check(
        tmp_path: Path) -> None:
    misbehaving_spec(tmp_path)  # copies the module in
    out = _gati("modules", "check", "--timeout", "1", str(Path(sys.executable).resolve()),
                "misbehaving_module.py", cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "FAIL method echo without arguments: none 'no answer within 1.0s'" in out.stdout
    assert "ok   handshake: misbehaving 0" in out.stdout


def test_a_command_that_is_no_module_fails_its_handshake(tmp_path: Path) -> None:
    out = _gati("modules", "check", "--timeout", "2", "/bin/cat", cwd=tmp_path)
    assert out.returncode == 1
    assert out.stdout.startswith("FAIL handshake:"), out.stdout


async def test_gati_modules_reload_reloads_a_running_module_without_a_restart(
        tmp_path: Path, started: Started) -> None:
    spec = misbehaving_spec(tmp_path, limits=Limits(timeout_s=5.0, watch_s=0.05))
    (tmp_path / "version.txt").write_text("1")
    module = await started(spec)
    first = module.process
    (tmp_path / "app.py").write_text(
        "from gati import App\nfrom gati.modules import load_spec, process_module\n"
        "app = App('reloading')\n"
        f"process_module(app, load_spec({str(tmp_path / 'gati-module.toml')!r}))\n")
    (tmp_path / "gati-module.toml").write_text(
        f'name = "misbehaving"\nentry = ["{sys.executable}", "misbehaving_module.py"]\n'
        '[methods.version]\nparams = []\n')
    (tmp_path / "version.txt").write_text("2")
    out = await asyncio.to_thread(_gati, "modules", "reload", "misbehaving",
                                  "--app", str(tmp_path / "app.py"))
    assert out.returncode == 0, out.stdout + out.stderr

    async def reloaded() -> bool:
        return bool(await module.version() == "2")

    await eventually(reloaded, within=20, what="the module to answer as version 2")
    assert module.process is not first and module.stats.reloads == 1
    assert module.stats.errors == 0 and module.stats.restarts == 0


def test_reload_names_the_out_of_process_modules_when_asked_for_another(
        tmp_path: Path) -> None:
    spec = replace(misbehaving_spec(tmp_path))
    (tmp_path / "app.py").write_text("from gati import App\napp = App('none')\n")
    out = _gati("modules", "reload", spec.name, "--app", str(tmp_path / "app.py"))
    assert out.returncode == 1
    assert "no out-of-process module 'misbehaving'" in out.stderr
    assert "(out-of-process modules: none)" in out.stderr


def test_gati_modules_list_shows_runtimes_methods_and_capabilities() -> None:
    out = subprocess.run([GATI, "modules", "list", "--app", "examples.users.app:app"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "USERS_MODULES": "1"})
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line for line in out.stdout.splitlines()}
    assert "executable  methods: hash_password, sleep, try_connect, verify_password" \
        in lines["ids"] and lines["ids"].endswith("capabilities: none")
    assert "node" in lines["avatar"] and "egress:127.0.0.1:8765" in lines["avatar"]
    assert lines["db"].split()[1] == "python"
