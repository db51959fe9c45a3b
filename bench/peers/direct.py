"""Peer 1, the ceiling: ``handler.work`` as a plain ASGI app in uvicorn, no log, no record.

Run: ``python -m uvicorn bench.peers.direct:app --port P`` (the same server and the same
defaults as ``gati gateway``).
"""

from __future__ import annotations

from typing import Any

from bench.peers.asgi import Receive, Send, read_body, respond
from bench.peers.handler import work_bytes


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/health":
        await respond(send, 200, b'{"status":"ok"}')
        return
    if scope["method"] != "POST" or scope["path"] != "/work":
        await respond(send, 404, b'{"error":"not found"}')
        return
    status, body = work_bytes(await read_body(receive))
    await respond(send, status, body)
