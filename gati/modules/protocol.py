"""The module protocol's wire: JSON-RPC 2.0 messages in length-prefixed frames.

A frame is a 4-byte big-endian unsigned length followed by that many bytes of UTF-8
JSON (one JSON-RPC object). Length framing, not newlines, so a module's JSON may hold
anything and a reader knows a frame's size before reading it: an oversized frame is
refused from its header alone, before its bytes are buffered. docs/module-protocol.md
is the description for module authors; this file is the worker's half of it.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from gati.modules.errors import ModuleProtocolError

PROTOCOL_VERSION = 1
HEADER = struct.Struct(">I")

# Methods of the protocol itself; a module's own methods may not start with "gati.".
HANDSHAKE = "gati.handshake"
PING = "gati.ping"
CANCEL = "gati.cancel"

# JSON-RPC 2.0's codes, LSP's "request cancelled", and Gati's own (-32000..-32099 is the
# range JSON-RPC reserves for implementations).
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
CANCELLED = -32800
DEADLINE_EXCEEDED = -32001
CAPABILITY_DENIED = -32003
BROKER_FAILED = -32004


# msgspec, not the json module: 0.2 µs to encode a call and 0.4 µs to decode an answer
# against 7 µs and 3 µs (measured on the bench machine), on every call both ways.
_to_json = msgspec.json.Encoder().encode
_from_json = msgspec.json.Decoder().decode
_pack, _unpack_from = HEADER.pack, HEADER.unpack_from


def encode(message: Mapping[str, Any]) -> bytes:
    body = _to_json(message)
    return _pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader, max_bytes: int) -> dict[str, Any]:
    """The next message. EOF raises ``asyncio.IncompleteReadError``; anything that is
    not a JSON object within ``max_bytes`` raises ``ModuleProtocolError``."""
    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    if size > max_bytes:
        raise ModuleProtocolError(f"frame of {size} bytes is over the limit of {max_bytes}")
    return decode(await reader.readexactly(size))


def decode(body: bytes) -> dict[str, Any]:
    """One frame's body as a JSON-RPC object, or ``ModuleProtocolError``."""
    try:
        message = _from_json(body)
    except msgspec.DecodeError as exc:
        raise ModuleProtocolError(f"frame is not JSON: {exc}") from None
    if type(message) is not dict or message.get("jsonrpc") != "2.0":
        raise ModuleProtocolError("frame is not a JSON-RPC 2.0 object")
    return message


class FrameDecoder:
    """Messages out of a byte stream, fed as the pipe delivers it.

    Pushed from the pipe's ``data_received`` rather than pulled by a reader task, so an
    answer resolves its caller's future in the same event-loop turn its bytes arrive
    (a reader task cost one more turn and two ``readexactly`` per frame). A header over
    ``max_bytes`` is refused before its body is buffered.
    """

    __slots__ = ("_buffer", "_max")

    def __init__(self, max_bytes: int) -> None:
        self._buffer = bytearray()
        self._max = max_bytes

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        buffer = self._buffer
        if not buffer and len(data) >= 4:
            (size,) = _unpack_from(data)
            if len(data) == size + 4 and size <= self._max:
                return [decode(data[4:])]  # the usual case: one whole frame per read
        buffer += data
        out = []
        while len(buffer) >= 4:
            (size,) = _unpack_from(buffer)
            if size > self._max:
                raise ModuleProtocolError(
                    f"frame of {size} bytes is over the limit of {self._max}")
            if len(buffer) < size + 4:
                break
            body = bytes(buffer[4:size + 4])
            del buffer[:size + 4]
            out.append(decode(body))
        return out


def request(call_id: int, method: str, params: Mapping[str, Any],
            deadline_ms: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"jsonrpc": "2.0", "id": call_id, "method": method,
                           "params": dict(params)}
    if deadline_ms is not None:
        out["gati"] = {"deadline_ms": deadline_ms}
    return out


def notification(method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": dict(params)}


def result(call_id: Any, value: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": call_id, "result": value}


def error(call_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": call_id, "error": err}


@dataclass(frozen=True, slots=True)
class MethodDecl:
    """One method as a module declares it: parameter names with JSON Schemas, result."""

    name: str
    params: tuple[tuple[str, Mapping[str, Any]], ...]
    returns: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"params": [{"name": n, "schema": dict(s)} for n, s in self.params],
                "returns": dict(self.returns)}

    @classmethod
    def from_json(cls, name: str, raw: Any) -> MethodDecl:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("params", []), list):
            raise ModuleProtocolError(f"method {name!r}: expected {{params: [...], returns}}")
        params = []
        for p in raw.get("params", []):
            if not isinstance(p, Mapping) or not isinstance(p.get("name"), str):
                raise ModuleProtocolError(f"method {name!r}: a parameter needs a name")
            params.append((p["name"], _schema(p.get("schema", {}), f"{name}.{p['name']}")))
        return cls(name, tuple(params), _schema(raw.get("returns", {}), f"{name} result"))


def _schema(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ModuleProtocolError(f"{where}: a JSON Schema must be an object")
    return dict(raw)


@dataclass(frozen=True, slots=True)
class Handshake:
    """What a module says of itself when it starts."""

    name: str
    version: str
    protocol: int
    methods: tuple[MethodDecl, ...]

    @classmethod
    def from_result(cls, raw: Any) -> Handshake:
        if not isinstance(raw, Mapping):
            raise ModuleProtocolError("handshake result must be an object")
        name, version = raw.get("name"), raw.get("version")
        protocol, methods = raw.get("protocol"), raw.get("methods")
        if not isinstance(name, str) or not isinstance(version, str):
            raise ModuleProtocolError("handshake must state name and version as strings")
        if protocol != PROTOCOL_VERSION:
            raise ModuleProtocolError(
                f"module speaks protocol {protocol!r}; this worker speaks {PROTOCOL_VERSION}")
        if not isinstance(methods, Mapping):
            raise ModuleProtocolError("handshake methods must be an object by method name")
        decls = tuple(MethodDecl.from_json(str(k), v) for k, v in sorted(methods.items()))
        reserved = [d.name for d in decls if d.name.startswith("gati.")]
        if reserved:
            raise ModuleProtocolError(f"methods {reserved} use the reserved prefix 'gati.'")
        return cls(name, version, protocol, decls)

    def method(self, name: str) -> MethodDecl | None:
        return next((m for m in self.methods if m.name == name), None)
