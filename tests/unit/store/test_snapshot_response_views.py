"""The snapshots and responses views show what a request recorded, on SQLite."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import sqlalchemy as sa

from gati import App, GlobalContext, LocalContext, Request, Response
from gati.core.context import Services
from gati.core.envelopes import RequestEnvelope
from gati.core.pipeline import Pipeline
from gati.core.ports import SystemClock
from gati.store import open_store


async def test_snapshots_and_responses_views(tmp_path: Path) -> None:
    app = App("views")

    @app.get("/s", snapshots="always")
    async def handler(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        lctx.set("cart", {"items": 2})
        res.status(202).json({"ok": True})

    store = await open_store(f"sqlite+aiosqlite:///{tmp_path}/v.db", migrate_first=True)
    now = SystemClock().now_us()
    env = RequestEnvelope("r1", "g", "t", 0, now, now + 5_000_000, "GET", "/s", "", (), b"")
    outcome = await Pipeline(app, Services(modules={}, config={}), clock=SystemClock()).process(env)
    await store.record([env], list(outcome.events))
    async with store.engine.connect() as conn:
        snaps = (
            await conn.execute(
                sa.text(
                    "SELECT label, hook_index FROM snapshots WHERE request_id = 'r1' ORDER BY seq"
                )
            )
        ).all()
        resp = (
            await conn.execute(
                sa.text("SELECT status, body_b64 FROM responses WHERE request_id = 'r1'")
            )
        ).one()
    await store.close()
    assert [s[0] for s in snaps] == ["before-handler"]
    assert resp[0] == 202
    assert json.loads(base64.b64decode(resp[1])) == {"ok": True}
