"""Capabilities are enforced from outside the module: namespaces, bubblewrap, the broker.

Each denial is paired with the same attempt allowed (unsandboxed, or declared), so a
test that cannot connect or read for an unrelated reason fails instead of passing.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from modules_helpers import ROOT, Started, ids_spec, misbehaving_spec

from gati.modules import EnvSecrets, ModuleCallFailed, ProcessSpec
from gati.modules.spec import Capabilities


@pytest.fixture
def listener() -> Iterator[str]:
    """A real TCP listener on the worker's loopback: what a module must not reach."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"127.0.0.1:{server.getsockname()[1]}"


class _Directory(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Directory)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_a_module_without_egress_cannot_connect_even_to_127_0_0_1(
        started: Started, listener: str) -> None:
    sandboxed = await started(ids_spec())
    answer = await sandboxed.try_connect(listener)
    assert answer.startswith("refused:") and "network is unreachable" in answer, answer
    # The same probe from the same binary, unsandboxed, does connect: the listener is real.
    free = await started(replace(ids_spec(), sandbox=False))
    assert await free.try_connect(listener) == "connected"


async def test_egress_goes_through_the_broker_and_only_to_the_allowlist(
        tmp_path: Path, started: Started, http_server: str, listener: str) -> None:
    spec = misbehaving_spec(tmp_path, capabilities=Capabilities(egress=(http_server,)))
    module = await started(spec)
    answer = await module.fetch(f"http://{http_server}/badge?email=a%40b.c")
    assert answer["status"] == 200
    assert json.loads(answer["body"]) == {"path": "/badge?email=a%40b.c"}
    refused = await module.fetch(f"http://{listener}/")
    assert refused["error"]["code"] == -32003
    assert f"may not reach {listener}" in refused["error"]["message"]
    assert module.broker.fetches == 1


async def test_an_undeclared_path_cannot_be_read_and_a_declared_one_can(
        tmp_path: Path, started: Started) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "note.txt").write_text("declared")
    (tmp_path / "mod").mkdir()
    closed = await started(misbehaving_spec(tmp_path / "mod"))
    # Undeclared: the data, the machine's own files, the worker's code.
    for path in (data / "note.txt", Path("/etc/hostname"), ROOT / "pyproject.toml"):
        assert path.is_file()
        with pytest.raises(ModuleCallFailed, match="No such file"):
            await closed.read_file(str(path))
    (tmp_path / "mod2").mkdir()
    opened = await started(misbehaving_spec(
        tmp_path / "mod2", name="reader", capabilities=Capabilities(read=(str(data),))))
    assert await opened.read_file(str(data / "note.txt")) == "declared"


async def test_a_module_gets_only_the_secrets_it_declares(
        tmp_path: Path, started: Started) -> None:
    secrets = [EnvSecrets({"DIRECTORY_TOKEN": "tok-declared", "DB_PASSWORD": "pw-other"})]
    spec = misbehaving_spec(tmp_path, capabilities=Capabilities(secrets=("DIRECTORY_TOKEN",)))
    module = await started(spec, secrets=secrets)
    assert await module.secret("DIRECTORY_TOKEN") == "tok-declared"
    refused = await module.secret("DB_PASSWORD")
    assert refused["error"]["code"] == -32003
    assert "did not declare secret 'DB_PASSWORD'" in refused["error"]["message"]
    assert "pw-other" not in json.dumps(refused)


async def test_the_worker_environment_reaches_a_module_only_by_name(
        tmp_path: Path, started: Started, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATI_DATABASE_URL", "postgresql://user:secret@db/app")
    module = await started(misbehaving_spec(tmp_path))
    environ = await module.read_file("/proc/self/environ")
    assert "GATI_DATABASE_URL" not in environ and "PATH=" in environ


async def test_a_memory_limit_is_the_process_s_not_a_request_to_it(started: Started) -> None:
    from gati.modules import ModuleCrashed, ProcessModule

    def limited(mb: int) -> ProcessSpec:
        spec = ids_spec()
        return replace(spec, limits=replace(spec.limits, memory_mb=mb))

    assert (await (await started(limited(256))).hash_password("pw", "s")).startswith("pbkdf2")
    # The Go runtime cannot even initialise in 64 MiB of data segment: the kernel says no.
    with pytest.raises(ModuleCrashed, match="exited with code 2"):
        await ProcessModule(limited(64)).start()
