"""The protocol's wire, a module's manifest, and how an app's manifest describes it."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import pytest
from modules_helpers import AVATAR, IDS

from gati import App, GlobalContext, LocalContext, Request, Response
from gati.errors import ConfigError
from gati.manifest import build_manifest, check_contracts
from gati.modules import ModuleProtocolError, load_spec, process_module
from gati.modules import protocol as p


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def test_a_frame_round_trips_and_a_bad_one_is_named() -> None:
    message = p.request(3, "hash_password", {"password": "pw"}, deadline_ms=250)
    assert await p.read_frame(_reader(p.encode(message)), 1024) == message
    with pytest.raises(ModuleProtocolError, match="frame of 4294967295 bytes is over"):
        await p.read_frame(_reader(struct.pack(">I", 2**32 - 1)), 1024)
    with pytest.raises(ModuleProtocolError, match="not JSON"):
        await p.read_frame(_reader(struct.pack(">I", 3) + b"{x}"), 1024)
    with pytest.raises(ModuleProtocolError, match=r"not a JSON-RPC 2\.0 object"):
        await p.read_frame(_reader(p.encode({"id": 1, "result": 2})), 1024)
    with pytest.raises(asyncio.IncompleteReadError):
        await p.read_frame(_reader(b"\x00\x00"), 1024)


def test_frames_are_decoded_however_the_pipe_splits_or_joins_them() -> None:
    """The worker's decoder is fed what each pipe read returns: parts of a frame, several
    frames, or a frame and the start of the next."""
    messages = [p.result(i, {"text": "é" * i}) for i in range(1, 6)]
    stream = b"".join(p.encode(m) for m in messages)
    for step in (1, 3, 7, len(stream)):
        decoder = p.FrameDecoder(1024)
        out = [m for i in range(0, len(stream), step) for m in decoder.feed(stream[i:i + step])]
        assert out == messages, step
    # A header over the limit is refused before its body has arrived.
    with pytest.raises(ModuleProtocolError, match="frame of 4096 bytes is over the limit"):
        p.FrameDecoder(1024).feed(struct.pack(">I", 4096) + b"{")
    with pytest.raises(ModuleProtocolError, match="not JSON"):
        p.FrameDecoder(1024).feed(struct.pack(">I", 3) + b"{x}")


def test_a_handshake_must_state_itself_in_protocol_1() -> None:
    good = {"name": "ids", "version": "1", "protocol": 1,
            "methods": {"f": {"params": [{"name": "x", "schema": {"type": "string"}}],
                              "returns": {"type": "string"}}}}
    assert p.Handshake.from_result(good).method("f") == p.MethodDecl(
        "f", (("x", {"type": "string"}),), {"type": "string"})
    for broken, why in [({**good, "protocol": 2}, "speaks protocol 2"),
                        ({**good, "version": 1}, "name and version as strings"),
                        ({**good, "methods": {"gati.x": {}}}, "reserved prefix"),
                        ({**good, "methods": {"f": {"params": [{}]}}}, "needs a name")]:
        with pytest.raises(ModuleProtocolError, match=why):
            p.Handshake.from_result(broken)


def test_a_module_manifest_names_its_mistakes(tmp_path: Path) -> None:
    def load(text: str) -> None:
        (tmp_path / "gati-module.toml").write_text(text)
        load_spec(tmp_path / "gati-module.toml")

    base = 'name = "m"\nentry = ["./m"]\n[methods.f]\nparams = []\n'
    load(base)
    for text, why in [
        ('name = "m-1"\nentry = ["./m"]\n', "name must be an identifier"),
        (base.replace('entry = ["./m"]', "entry = 3"), "entry must be a command"),
        (base + '[limits]\ntimeout = 1\n', r"\[limits\] has unknown keys \['timeout'\]"),
        (base + '[capabilities]\negress = "a:1"\n', "capabilities.egress must be a list"),
        ('name = "m"\nentry = ["./m"]\n', "declares no methods"),
        ('runtime = "lua"\n' + base, "runtime must be one of"),
        ("name = ", "module manifest"),
    ]:
        with pytest.raises(ConfigError, match=why):
            load(text)


def _app() -> App:
    app = App("polyglot")
    process_module(app, IDS)
    process_module(app, AVATAR)

    @app.get("/h", handler_id="polyglot.h")
    async def h(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        await gctx.modules.ids.hash_password("pw")
        await gctx.modules.avatar.avatarr("Ada", 4)
        res.json(await gctx.modules.ids.verify_password(password="pw", hashed="h"))

    return app


def test_the_app_manifest_describes_out_of_process_modules_and_checks_calls() -> None:
    manifest = build_manifest(_app())
    ids, avatar = manifest.module("ids"), manifest.module("avatar")
    assert ids is not None and avatar is not None
    assert (ids.runtime, avatar.runtime) == ("executable", "node")
    assert avatar.egress == ("127.0.0.1:8765",) and ids.egress == ()
    method = ids.method("hash_password")
    assert method is not None and [q.name for q in method.params] == ["password", "salt"]
    assert ids.policy.timeout_s == load_spec(IDS).limits.timeout_s
    problems = sorted(f"{i.method}: {i.problem}" for i in check_contracts(manifest).issues)
    assert problems == ["avatarr: unknown_method", "hash_password: arity"]
