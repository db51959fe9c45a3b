"""The ``wasm`` runtime: a WASI module run by wasmtime, for code that is not trusted.

WASI has no sockets at all, so such a module cannot reach the network by any means;
it sees only the directories its manifest preopens (``read`` read-only, ``write``
read-write) and its declared environment. It speaks the same frames as any module, on
a stdin and stdout that are files: each call instantiates the module afresh with the
handshake and the call as its input, runs it to its exit, and reads the answer from its
output. A call is therefore isolated from every other (a trap fails only that call)
and there is no process to restart; the cost is an instantiation per call. Brokered
capabilities (``http.fetch``, ``secrets.get``) need a conversation, so a WASM module
has none: it is for pure computation.

Compiling a module is slow (seconds for a Go-built one), so the compiled artifact is
kept under ``~/.cache/gati/wasm``, keyed by the module's sha256 and wasmtime's version.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.metadata
import json
import os
import struct
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gati.errors import ConfigError
from gati.modules import protocol as p
from gati.modules.errors import (
    ModuleCallFailed,
    ModuleCrashed,
    ModuleError,
    ModuleProtocolError,
    ModuleUnavailable,
)
from gati.modules.protocol import Handshake
from gati.modules.sandbox import module_env
from gati.modules.spec import ProcessSpec

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gati" / "wasm"
TICK_S = 0.01


class WasmModule:
    """A compiled WASI module; ``call`` is safe from many tasks at once."""

    def __init__(self, spec: ProcessSpec) -> None:
        self.spec = spec
        self.handshake: Handshake | None = None
        self._engine: Any = None
        self._module: Any = None
        self._calls = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._ids = 1
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.pid: int | None = None  # no process: the module runs in the worker's wasmtime

    @property
    def alive(self) -> bool:
        return self._module is not None

    @property
    def in_flight(self) -> int:
        return self._calls

    def stderr_tail(self) -> str:
        return ""

    async def start(self) -> Handshake:
        try:
            await asyncio.to_thread(self._compile)
        except (OSError, ValueError) as exc:
            raise ModuleUnavailable(f"module {self.spec.name!r}: cannot load its WASM: "
                                    f"{exc}") from exc
        self._ticker = threading.Thread(target=self._tick, daemon=True,
                                        name=f"gati-wasm-{self.spec.name}")
        self._ticker.start()
        answers = await asyncio.to_thread(self._run, [])
        self.handshake = Handshake.from_result(answers.get(0, {}).get("result"))
        return self.handshake

    async def call(self, method: str, params: Mapping[str, Any],
                   deadline_s: float | None = None) -> Any:
        if self._module is None:
            raise ModuleUnavailable(f"module {self.spec.name!r} is closed")
        self._calls += 1
        self._idle.clear()
        try:
            answers = await asyncio.to_thread(
                self._run, [p.request(1, method, params, None if deadline_s is None
                                      else int(deadline_s * 1000))], deadline_s)
        finally:
            self._calls -= 1
            if not self._calls:
                self._idle.set()
        answer = answers.get(1)
        if answer is None:
            raise ModuleCrashed(f"module {self.spec.name!r} exited without answering "
                                f"{method}")
        if "error" in answer:
            err = answer["error"] if isinstance(answer["error"], dict) else {}
            raise ModuleCallFailed(f"[{err.get('code', p.INTERNAL_ERROR)}] "
                                   f"{err.get('message', 'no message')}")
        return answer.get("result")

    async def drain(self) -> None:
        await self._idle.wait()
        await self.close()

    async def close(self) -> None:
        self._stop.set()
        self._module = None

    async def kill(self, reason: ModuleError, *, report: bool = False) -> None:
        await self.close()

    def _compile(self) -> None:
        import wasmtime

        path = Path(self.spec.root, self.spec.entry[0]).resolve()
        raw = path.read_bytes()
        config = wasmtime.Config()
        config.epoch_interruption = True
        self._engine = wasmtime.Engine(config)
        version = importlib.metadata.version("wasmtime")
        cached = CACHE / f"{hashlib.sha256(raw).hexdigest()}-{version}.cwasm"
        if cached.exists():
            with contextlib.suppress(Exception):  # an unusable cache entry: compile again
                self._module = wasmtime.Module.deserialize_file(self._engine, str(cached))
                return
        self._module = wasmtime.Module(self._engine, raw)
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(self._module.serialize())
        partial.replace(cached)

    def _tick(self) -> None:
        while not self._stop.wait(TICK_S):
            self._engine.increment_epoch()

    def _run(self, calls: list[dict[str, Any]],
             deadline_s: float | None = None) -> dict[int, dict[str, Any]]:
        """Run the module to its exit on the handshake plus ``calls``: answers by id."""
        import wasmtime

        frames = [p.request(0, p.HANDSHAKE, {"protocol": p.PROTOCOL_VERSION,
                                             "module": self.spec.name}), *calls]
        with tempfile.TemporaryDirectory(prefix="gati-wasm-") as tmp:
            stdin, stdout = Path(tmp, "in"), Path(tmp, "out")
            stdin.write_bytes(b"".join(p.encode(f) for f in frames))
            store = wasmtime.Store(self._engine)
            store.set_epoch_deadline(max(1, int((deadline_s or 60.0) / TICK_S)))
            if self.spec.limits.memory_mb is not None:
                store.set_limits(memory_size=self.spec.limits.memory_mb * 1024 * 1024)
            store.set_wasi(self._wasi(str(stdin), str(stdout)))
            linker = wasmtime.Linker(self._engine)
            linker.define_wasi()
            try:
                instance = linker.instantiate(store, self._module)
                start: Any = instance.exports(store)["_start"]
                start(store)
            except wasmtime.ExitTrap as exc:
                if exc.code != 0:
                    raise ModuleCrashed(f"module {self.spec.name!r} exited with code "
                                        f"{exc.code}") from None
            except wasmtime.Trap as exc:
                if "interrupt" in str(exc):
                    return {1: p.error(1, p.DEADLINE_EXCEEDED, "deadline exceeded")}
                raise ModuleCrashed(f"module {self.spec.name!r} trapped: {exc}") from None
            except wasmtime.WasmtimeError as exc:
                raise ModuleUnavailable(f"module {self.spec.name!r}: {exc}") from None
            return _answers(stdout.read_bytes(), self.spec.limits.max_frame_bytes)

    def _wasi(self, stdin: str, stdout: str) -> Any:
        import wasmtime

        wasi = wasmtime.WasiConfig()
        wasi.argv = [self.spec.name, *self.spec.entry[1:]]
        wasi.env = [[k, v] for k, v in module_env(self.spec).items()
                    if k in self.spec.capabilities.env]
        wasi.stdin_file = stdin
        wasi.stdout_file = stdout
        root = Path(self.spec.root)
        for path in self.spec.capabilities.read:
            wasi.preopen_dir(str((root / path).resolve()), path, fs_mutable=False)
        for path in self.spec.capabilities.write:
            wasi.preopen_dir(str((root / path).resolve()), path, fs_mutable=True)
        return wasi


def _answers(data: bytes, max_bytes: int) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    at = 0
    while at + 4 <= len(data):
        (size,) = struct.unpack(">I", data[at:at + 4])
        if size > max_bytes or at + 4 + size > len(data):
            raise ModuleProtocolError(f"a frame of {size} bytes is over the limit or cut")
        try:
            message = json.loads(data[at + 4:at + 4 + size])
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModuleProtocolError(f"frame is not JSON: {exc}") from None
        if isinstance(message, dict) and isinstance(message.get("id"), int):
            out[message["id"]] = message
        at += 4 + size
    return out


def check_wasm_runtime() -> None:
    try:
        import wasmtime  # noqa: F401
    except ImportError:
        raise ConfigError("runtime 'wasm' needs the wasmtime package "
                          "(pip install 'gati[wasm]')") from None
