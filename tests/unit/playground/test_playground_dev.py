"""``gati dev`` serves the playground beside the app, on the same port."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from gati.config import Settings
from gati.dev.runner import run_dev
from tests.apps.playground_app import build
from tests.support import eventually, free_port


async def test_dev_serves_the_playground_under_its_path(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/dev.db",
                        environment="development")
    port = free_port()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_dev(build(), settings, host="127.0.0.1", port=port,
                                       on_ready=ready.set_result))
    try:
        url = await asyncio.wait_for(asyncio.shield(ready), 60)
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            sent = await c.get("/greet/dev")
            assert sent.status_code == 200 and sent.json() == {"greeting": "Hello, dev"}
            moved = await c.get("/_gati/playground")
            assert moved.status_code == 308
            assert moved.headers["location"] == "/_gati/playground/"
            page = await c.get("/_gati/playground/")
            assert page.status_code == 200 and "Gati playground" in page.text
            assert (await c.get("/_gati/playground/static/app.js")).status_code == 200

            async def listed() -> list[dict[str, object]]:
                r = await c.get("/_gati/playground/api/requests", params={"path": "/greet"})
                return list(r.json()["items"])

            [item] = await eventually(listed, within=30, what="the request in the playground")
            assert item["status"] == 200 and item["handler_id"] == "demo.greet"
            one = (await c.get(f"/_gati/playground/api/requests/{item['request_id']}")).json()
            assert one["worker_id"] == settings.effective_worker_id()
            assert one["log_topic"] == settings.requests_topic
            assert isinstance(one["log_partition"], int) and one["log_offset"] >= 0
            replay = await c.post(f"/_gati/playground/api/requests/{item['request_id']}/replay",
                                  headers={"X-Gati-Playground": "1"}, json={})
            assert replay.json()["identical"] is True
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
