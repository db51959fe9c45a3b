"""Out-of-process calls are effects: recorded like in-process ones, replayed from the record.

The app registers the Go example module from a copy of it; once requests are recorded
the copy's binary is deleted, so a replay that tried to start the process would fail.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from modules_helpers import IDS, misbehaving_spec

from gati import App, GlobalContext, LocalContext, Request, Response
from gati.core.context import ModuleEntry, Services
from gati.core.envelopes import RequestEnvelope
from gati.core.pipeline import Pipeline
from gati.core.ports import SystemClock
from gati.modules import ModuleCrashed, ProcessModule, ProcessSpec, load_spec, process_module
from gati.replay import Replayer
from gati.store import Store, open_store


def build(ids: ProcessSpec, faulty: ProcessSpec) -> App:
    app = App("accounts")
    process_module(app, ids)
    process_module(app, faulty)

    @app.post("/hash/{password}", handler_id="accounts.hash")
    async def hash_password(req: Request, res: Response, lctx: LocalContext,
                            gctx: GlobalContext) -> None:
        hashed = await gctx.modules.ids.hash_password(str(req.params["password"]), "s4lt")
        ok = await gctx.modules.ids.verify_password(password=str(req.params["password"]),
                                                    hashed=hashed)
        res.json({"hashed": hashed, "verified": ok})

    @app.post("/crash", handler_id="accounts.crash")
    async def crash(req: Request, res: Response, lctx: LocalContext,
                    gctx: GlobalContext) -> None:
        try:
            await gctx.modules.misbehaving.exit()
        except ModuleCrashed as exc:
            res.status(503).json({"code": exc.code})

    return app


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(f"sqlite+aiosqlite:///{tmp_path}/replay.db", migrate_first=True)
    yield s
    await s.close()


async def _record(store: Store, app: App, modules: dict[str, ProcessModule],
                  path: str) -> tuple[str, Any, list[dict[str, Any]]]:
    entries = {name: ModuleEntry(modules[name], spec.policy)
               for name, spec in app.modules.items()}
    pipeline = Pipeline(app, Services(modules=entries, config={}), clock=SystemClock())
    now = SystemClock().now_us()
    env = RequestEnvelope(f"req-{path.strip('/')}", "g", "t", 0, now, now + 10_000_000,
                          "POST", path, "", (), b"")
    outcome = await pipeline.process(env)
    await store.record([env], list(outcome.events))
    effects = [json.loads(e.detail) for e in outcome.events
               if e.stage == "effect" and e.detail]
    return env.request_id, outcome, effects


async def test_recorded_module_calls_replay_identically_without_the_process(
        tmp_path: Path, store: Store) -> None:
    copy = tmp_path / "ids"
    shutil.copytree(IDS.parent, copy, ignore=shutil.ignore_patterns("*.go", "go.mod"))
    ids = load_spec(copy / "gati-module.toml")
    (tmp_path / "bad").mkdir()
    faulty = misbehaving_spec(tmp_path / "bad")
    app = build(ids, faulty)
    modules = {"ids": ProcessModule(ids), "misbehaving": ProcessModule(faulty)}
    for m in modules.values():
        await m.start()
    try:
        hashed, _, effects = await _record(store, app, modules, "/hash/hunter2")
        crashed, _, crash_effects = await _record(store, app, modules, "/crash")
    finally:
        for m in modules.values():
            await m.close()
    assert [(e["module"], e["method"]) for e in effects] == [
        ("ids", "hash_password"), ("ids", "verify_password")]
    assert effects[0]["result"].startswith("pbkdf2-sha256$10000$s4lt$")
    assert effects[1]["result"] is True
    assert crash_effects[0]["error"]["class"] == "gati.modules.errors.ModuleCrashed"

    (copy / "bin/idsvc").unlink()  # a replay that started the module would fail now
    (tmp_path / "bad/misbehaving_module.py").unlink()
    replayer = Replayer(app=build(ids, faulty), engine=store.engine)
    for rid in (hashed, crashed):
        result = await replayer.replay(rid)
        assert result.identical, result.divergence
    result = await replayer.replay(crashed)
    assert result.replayed_status == 503 and json.loads(result.replayed_body) == {
        "code": "module_crashed"}
