"""One running module process: its pipes, its handshake and its calls in flight.

The process is the unit of failure. Anything it does wrong (exits, writes a frame that
is not JSON-RPC or is over the size limit, answers an id it was never asked) ends it:
it is killed and every call in flight fails with a typed error at once, so no caller
waits for an answer that cannot come. Restarting is the supervisor's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import resource
import signal
import subprocess
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from gati.modules import protocol as p
from gati.modules.errors import (
    ModuleCallFailed,
    ModuleCrashed,
    ModuleError,
    ModuleProtocolError,
    ModuleUnavailable,
)
from gati.modules.protocol import Handshake
from gati.modules.spec import ProcessSpec

log = logging.getLogger("gati.modules")

# A module's requests to the worker (``http.fetch``, ``secrets.get``): params -> result.
Broker = Callable[[str, Mapping[str, Any]], Awaitable[Any]]
STDERR_TAIL = 64 * 1024
STDERR_LINES_PER_S = 20


class ModuleProcess:
    """A started module process. ``call`` is safe from many tasks at once."""

    def __init__(self, spec: ProcessSpec, argv: list[str], env: dict[str, str],
                 broker: Broker | None = None,
                 on_exit: Callable[[ModuleProcess, ModuleError], None] | None = None) -> None:
        self.spec = spec
        self._argv = argv
        self._env = env
        self._broker = broker
        self._on_exit = on_exit
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._transport: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._frames = p.FrameDecoder(spec.limits.max_frame_bytes)
        self._exit: asyncio.Future[int] | None = None
        self._ending: asyncio.Task[None] | None = None
        self._brokered: set[asyncio.Task[None]] = set()
        self._stderr: deque[bytes] = deque()
        self._stderr_size = 0
        self._stderr_window, self._stderr_logged = time.monotonic(), 0
        self._died: ModuleError | None = None
        self._closing = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.handshake: Handshake | None = None

    @property
    def pid(self) -> int | None:
        return None if self._transport is None else self._transport.get_pid()

    @property
    def alive(self) -> bool:
        return self._transport is not None and self._died is None

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def stderr_tail(self) -> str:
        return b"".join(self._stderr).decode(errors="replace")

    async def start(self) -> Handshake:
        """Spawn, then handshake within the manifest's limit; a failure leaves no process."""
        memory = self.spec.limits.memory_mb
        loop = asyncio.get_running_loop()
        self._exit = loop.create_future()
        self._transport, _ = await loop.subprocess_exec(
            lambda: _Pipes(self), *self._argv, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self._env,
            cwd=self.spec.root, start_new_session=True,
            preexec_fn=None if memory is None else _memory_limit(memory))
        stdin = self._transport.get_pipe_transport(0)
        assert isinstance(stdin, asyncio.WriteTransport)
        self._stdin = stdin
        try:
            raw = await asyncio.wait_for(self.call(p.HANDSHAKE, {
                "protocol": p.PROTOCOL_VERSION, "module": self.spec.name}),
                self.spec.limits.handshake_timeout_s)
            self.handshake = Handshake.from_result(raw)
        except BaseException as exc:
            await self.kill(ModuleUnavailable(f"module {self.spec.name!r} failed its "
                                              f"handshake: {exc!r}; stderr: "
                                              f"{self.stderr_tail()[-500:]!r}"))
            if isinstance(exc, ModuleError | TimeoutError):
                assert self._died is not None
                raise self._died from exc
            raise
        return self.handshake

    async def call(self, method: str, params: Mapping[str, Any],
                   deadline_s: float | None = None) -> Any:
        """The module's result, or its error as ``ModuleCallFailed``; cancelling the
        awaiting task (a timeout) tells the module with ``gati.cancel``."""
        if self._died is not None:
            raise type(self._died)(self._died.message)
        call_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        self._idle.clear()
        deadline = None if deadline_s is None else int(deadline_s * 1000)
        try:
            self._send(p.request(call_id, method, params, deadline))
            return await future
        except asyncio.CancelledError:
            # Cancelling the awaiting task cancels the future too: it was not answered.
            if self._died is None and (future.cancelled() or not future.done()):
                self._send(p.notification(p.CANCEL, {"id": call_id}))
            raise
        finally:
            self._pending.pop(call_id, None)
            if not self._pending:
                self._idle.set()

    async def drain(self) -> None:
        """Wait for the calls in flight (a reload's old process), then end the process.

        No longer than a call may take: a call still running then has been given up by
        its caller's timeout already."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self.spec.limits.timeout_s)
        await self.close()

    async def close(self) -> None:
        """Closing stdin asks the module to exit; one that does not is killed."""
        self._closing = True
        if self._transport is None or self._exit is None or self._exit.done():
            await self.kill(ModuleCrashed(f"module {self.spec.name!r} was closed"))
            return
        if self._stdin is not None:
            self._stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._exit), 2.0)
        await self.kill(ModuleCrashed(f"module {self.spec.name!r} was closed"), report=False)

    async def kill(self, reason: ModuleError, *, report: bool = False) -> None:
        """End the process and fail every call in flight with ``reason``."""
        self._die(reason, report=report)
        transport = self._transport
        if transport is not None and self._exit is not None:
            # The whole group: under unshare and bwrap the module is a grandchild, and
            # holds stdout open until it is gone too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(transport.get_pid(), signal.SIGKILL)
            await asyncio.shield(self._exit)
            transport.close()
        for task in [*self._brokered, self._ending]:
            if task is not None and task is not asyncio.current_task():
                task.cancel()

    def _die(self, reason: ModuleError, *, report: bool = True) -> None:
        if self._died is not None:
            return
        self._died = reason
        for future in self._pending.values():
            if not future.done():
                future.set_exception(type(reason)(reason.message))
        if report and not self._closing and self._on_exit is not None:
            self._on_exit(self, reason)

    def _send(self, message: Mapping[str, Any]) -> None:
        stdin = self._stdin
        assert stdin is not None
        if stdin.is_closing():
            reason = ModuleCrashed(f"module {self.spec.name!r}: its stdin is closed")
            self._die(reason)
            raise reason
        stdin.write(p.encode(message))

    def _received(self, data: bytes) -> None:
        """Stdout bytes, straight from the pipe: each whole frame is dispatched now."""
        if self._died is not None:
            return
        try:
            for message in self._frames.feed(data):
                self._dispatch(message)
        except ModuleProtocolError as exc:
            self._end(ModuleProtocolError(f"module {self.spec.name!r}: {exc.message}"))

    def _stdout_closed(self) -> None:
        """End of stdout: the module is gone (or going); its exit code names the reason."""
        if self._died is None and self._ending is None:
            self._ending = asyncio.ensure_future(self._ended())

    async def _ended(self) -> None:
        assert self._exit is not None
        code = await asyncio.shield(self._exit)
        self._end(ModuleCrashed(f"module {self.spec.name!r} exited with code {code}"))

    def _end(self, reason: ModuleError) -> None:
        if self._died is not None:
            return
        if not self._closing:
            log.warning("%s; stderr: %s", reason.message, self.stderr_tail()[-500:])
        self._die(reason)
        task = asyncio.ensure_future(self.kill(reason))
        self._brokered.add(task)
        task.add_done_callback(self._brokered.discard)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "method" in message:
            if "id" in message:
                task = asyncio.ensure_future(self._answer(message))
                self._brokered.add(task)
                task.add_done_callback(self._brokered.discard)
            return  # a notification from the module: none is defined yet, ignored
        call_id = message.get("id")
        future = self._pending.get(call_id) if isinstance(call_id, int) else None
        if future is None:
            if isinstance(call_id, int) and 0 < call_id < next(self._ids):
                return  # a late answer to a call already cancelled
            raise ModuleProtocolError(f"answer to id {call_id!r}, which was never asked")
        if future.done():
            return
        if "error" in message:
            err = message["error"] if isinstance(message["error"], dict) else {}
            future.set_exception(ModuleCallFailed(
                f"[{err.get('code', p.INTERNAL_ERROR)}] {err.get('message', 'no message')}"))
        elif "result" in message:
            future.set_result(message["result"])
        else:
            raise ModuleProtocolError("a response needs a result or an error")

    async def _answer(self, message: dict[str, Any]) -> None:
        """A module's request to the worker, answered by the broker or refused."""
        call_id, method = message.get("id"), str(message.get("method"))
        params = message.get("params") or {}
        if self._broker is None or not isinstance(params, Mapping):
            self._send(p.error(call_id, p.METHOD_NOT_FOUND, f"no broker method {method!r}"))
            return
        try:
            value = await self._broker(method, params)
        except ModuleError as exc:
            code = p.CAPABILITY_DENIED if exc.code == "capability_denied" else p.BROKER_FAILED
            self._send(p.error(call_id, code, exc.message))
            return
        except Exception as exc:  # a broker failure is the module's answer, not ours
            self._send(p.error(call_id, p.BROKER_FAILED, f"{type(exc).__name__}: {exc}"))
            return
        self._send(p.result(call_id, value))

    def _stderr_received(self, chunk: bytes) -> None:
        """Stderr is taken as fast as it comes, so a flooding module never blocks on it;
        its tail is kept for error messages and a bounded number of lines logged."""
        self._stderr.append(chunk)
        self._stderr_size += len(chunk)
        while self._stderr_size > STDERR_TAIL and len(self._stderr) > 1:
            self._stderr_size -= len(self._stderr.popleft())
        now = time.monotonic()
        if now - self._stderr_window >= 1.0:
            self._stderr_window, self._stderr_logged = now, 0
        if self._stderr_logged < STDERR_LINES_PER_S:
            self._stderr_logged += 1
            log.info("module %s stderr: %s", self.spec.name,
                     chunk[:500].decode(errors="replace").rstrip())

    def _exited(self, code: int) -> None:
        if self._exit is not None and not self._exit.done():
            self._exit.set_result(code)


class _Pipes(asyncio.SubprocessProtocol):
    """The module's pipes and exit, handed to its ``ModuleProcess`` as they happen."""

    def __init__(self, owner: ModuleProcess) -> None:
        self._owner = owner
        self._transport: asyncio.SubprocessTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self._transport = transport

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        assert isinstance(data, bytes)
        if fd == 1:
            self._owner._received(data)
        elif fd == 2:
            self._owner._stderr_received(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self._owner._stdout_closed()

    def process_exited(self) -> None:
        assert self._transport is not None
        code = self._transport.get_returncode()
        self._owner._exited(-1 if code is None else code)


def _memory_limit(megabytes: int) -> Callable[[], None]:
    def apply() -> None:
        size = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (size, size))

    return apply
