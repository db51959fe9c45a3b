"""The wasm runtime: the Go example built for WASI, run by wasmtime inside the worker."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest
from modules_helpers import ROOT, Started, ids_spec

from gati.modules import ModuleCallFailed, load_spec
from gati.modules.spec import Limits

WASM = ROOT / "examples/users/modules/ids/wasm.toml"


async def test_the_wasm_build_answers_as_the_native_one_and_has_no_network(
        started: Started) -> None:
    wasm = await started(load_spec(WASM))
    native = await started(replace(ids_spec(), sandbox=False))
    assert wasm.process is not None and wasm.process.handshake.name == "ids"
    assert await wasm.hash_password("pw", "salt") == await native.hash_password("pw", "salt")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        address = f"127.0.0.1:{server.getsockname()[1]}"
        assert await native.try_connect(address) == "connected"
        assert (await wasm.try_connect(address)).startswith("refused:")


async def test_a_wasm_call_past_its_deadline_is_stopped(started: Started) -> None:
    spec = replace(load_spec(WASM), limits=Limits(timeout_s=0.3, memory_mb=512))
    wasm = await started(spec)
    with pytest.raises(ModuleCallFailed, match=r"\[-32001\] deadline exceeded"):
        await wasm.sleep(30)
    assert await wasm.sleep(0) == 0  # the next call runs in a fresh instance
