"""Generated stubs let mypy check handler code against a Go or Node module's methods."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from modules_helpers import ROOT
from support import GATI

HANDLER = '''
from gati import GlobalContext
from module_stubs import IdsModule


async def handler(gctx: GlobalContext) -> bool:
    ids = gctx.modules.get("ids", IdsModule)
    hashed: str = await ids.hash_password("pw", "salt")
    return await ids.verify_password(password="pw", hashed=hashed)
'''


def _mypy(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "handler.py").write_text(code)
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                           "handler.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "MYPYPATH": str(ROOT)})


def test_stubs_make_mypy_check_calls_to_an_out_of_process_module(tmp_path: Path) -> None:
    out = subprocess.run([GATI, "modules", "stubs", "--app", "examples.users.app:app",
                          "-o", str(tmp_path / "module_stubs.py")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "USERS_MODULES": "1"})
    assert out.returncode == 0, out.stderr
    assert "wrote 2 module stubs" in out.stdout
    good = _mypy(tmp_path, HANDLER)
    assert good.returncode == 0, good.stdout
    bad = _mypy(tmp_path, HANDLER.replace('hash_password("pw", "salt")', "hash_password(1)")
                .replace("verify_password(password", "verify_pasword(password"))
    assert bad.returncode == 1
    assert 'Missing positional argument "salt" in call to "hash_password"' in bad.stdout
    assert 'Argument 1 to "hash_password" of "IdsModule" has incompatible type "int"' \
        in bad.stdout
    assert '"IdsModule" has no attribute "verify_pasword"' in bad.stdout
