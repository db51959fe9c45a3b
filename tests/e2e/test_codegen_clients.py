"""Generated clients against a running system: the typed example on both backends.

The Python client (httpx) and the TypeScript client (compiled with tsc, run by node) are
generated from the example's manifest, then create, read, update, list and delete users
through the real gateway, and meet its errors as typed errors with the structured body.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from support import System, start_system

from gati.codegen import python_client, typescript_client
from gati.manifest import build_manifest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "codegen"))
from codegen_tools import node, tsc_build, write

pytestmark = pytest.mark.timeout(300)
APP = "examples.typed_users.app:app"

TS_SCRIPT = """
import { Client, GatiApiError } from "./client.js";

const api = new Client(process.argv[2]);
const email = process.argv[3];
const out: { [key: string]: unknown } = {};
const created = await api.createUser({ name: "Grace Hopper", email });
out.created = created;
out.fetched = await api.getUser(created.id, { version: "initial" });
out.updated = await api.updateUser(created.id, { name: "Rear Admiral Hopper" });
out.page = (await api.listUsers({ limit: "500" })).users.some((u) => u.id === created.id);
try {
  await api.createUser({ name: "Again", email });
} catch (err) {
  if (err instanceof GatiApiError) {
    out.taken = [err.status, err.code, err.requestId !== null];
  }
}
try {
  await api.createUser({ name: "", email: "not an email" });
} catch (err) {
  if (err instanceof GatiApiError) {
    out.invalid = [err.status, err.code, (err.body?.issues ?? []).map((i) => i.path)];
  }
}
await api.deleteUser(created.id);
try {
  await api.getUser(created.id);
} catch (err) {
  if (err instanceof GatiApiError) {
    out.gone = [err.status, err.code];
  }
}
console.log(JSON.stringify(out));
"""

# process.argv needs node's types; declare just what the script uses.
NODE_DECL = "declare const process: { argv: string[] };\n"


@pytest.fixture(scope="module", params=["embedded", "kafka"])
def system(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp(f"codegen-{request.param}")
    s = start_system(request.param, tmp, request, app=APP)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def py_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    from examples.typed_users.app import app

    root = tmp_path_factory.mktemp("py")
    write(python_client(build_manifest(app)), root / "typed_users_client")
    sys.path.insert(0, str(root))
    yield importlib.import_module("typed_users_client")
    sys.path.remove(str(root))
    for name in [n for n in sys.modules if n.startswith("typed_users_client")]:
        del sys.modules[name]


def _email() -> str:
    return f"u{uuid.uuid4().hex[:10]}@example.com"


async def test_python_client_crud_and_typed_errors(system: System, py_client: ModuleType) -> None:
    email = _email()
    async with py_client.Client(system.base_url, timeout=40) as api:
        created = await api.create_user(py_client.CreateUser(name="Ada Lovelace", email=email))
        assert isinstance(created, py_client.User)
        assert (created.name, created.email) == ("Ada Lovelace", email) and created.id >= 1
        assert await api.get_user(created.id) == created
        assert await api.get_user(created.id, version="initial") == created
        updated = await api.update_user(created.id, py_client.UpdateUser(name="Countess"))
        assert (updated.id, updated.name, updated.email) == (created.id, "Countess", email)
        page = await api.list_users(limit="500")
        assert isinstance(page, py_client.UserPage)
        assert created.id in {u.id for u in page.users}

        with pytest.raises(py_client.GatiApiError) as taken:
            await api.create_user(py_client.CreateUser(name="Ada again", email=email))
        assert (taken.value.status, taken.value.code) == (409, "email_taken")
        assert taken.value.request_id and taken.value.error.request_id == taken.value.request_id

        with pytest.raises(py_client.GatiApiError) as invalid:
            await api.create_user(py_client.CreateUser(name="", email="not an email"))
        err = invalid.value
        assert (err.status, err.code) == (400, "validation_failed")
        assert {i.path for i in err.error.issues} == {"$.name", "$.email"}
        assert all(isinstance(i, py_client.ValidationIssue) for i in err.error.issues)

        with pytest.raises(py_client.GatiApiError) as unknown_version:
            await api.get_user(created.id, version="v9")
        assert (unknown_version.value.status, unknown_version.value.code) == (
            404, "unknown_version")

        with pytest.raises(py_client.GatiApiError) as empty:
            await api.update_user(created.id, py_client.UpdateUser())
        assert (empty.value.status, empty.value.code) == (400, "empty_update")

        assert await api.delete_user(created.id) is None
        with pytest.raises(py_client.GatiApiError) as gone:
            await api.get_user(created.id)
        assert (gone.value.status, gone.value.code) == (404, "user_not_found")


def test_typescript_client_runs_against_the_gateway(system: System, tmp_path: Path) -> None:
    from examples.typed_users.app import app

    src = write(typescript_client(build_manifest(app)), tmp_path / "src")
    (src / "main.ts").write_text(NODE_DECL + TS_SCRIPT)
    built = tsc_build(src, tmp_path / "out")
    assert built.returncode == 0, built.stdout + built.stderr
    email = _email()
    run = subprocess.run([node(), str(tmp_path / "out" / "main.js"), system.base_url, email],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr + system.logs()
    out = json.loads(run.stdout)
    created = out["created"]
    assert created["email"] == email and created["name"] == "Grace Hopper"
    assert out["fetched"] == created
    assert out["updated"] == {**created, "name": "Rear Admiral Hopper"}
    assert out["page"] is True
    assert out["taken"] == [409, "email_taken", True]
    assert out["invalid"][:2] == [400, "validation_failed"]
    assert set(out["invalid"][2]) == {"$.name", "$.email"}
    assert out["gone"] == [404, "user_not_found"]
