"""The app's CORS policy at the gateway: preflights answered here, grants added to the
rest (``gati.policy.CORS`` decides; this is its ASGI adapter)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from gati.policy import CORS

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]


async def _answered(message: Message) -> None:
    raise AssertionError("a preflight was answered; nothing else is sent")


ANSWERED: Send = _answered


async def with_cors(cors: CORS, scope: MutableMapping[str, Any], send: Send) -> Send:
    """``send`` adding the app's CORS headers; ``ANSWERED`` after answering a preflight.

    A preflight never reaches a worker: it runs nothing and is not recorded.
    """
    headers = {k.lower(): v.decode("latin-1") for k, v in scope["headers"]}
    origin = headers.get(b"origin")
    if origin is None:
        return send
    method = headers.get(b"access-control-request-method")
    if scope["method"] == "OPTIONS" and method is not None:
        status, grants = cors.preflight(origin, method,
                                        headers.get(b"access-control-request-headers", ""))
        out = [(k.encode(), v.encode()) for k, v in grants] + [(b"content-length", b"0")]
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": b""})
        return ANSWERED
    extra = [(k.encode(), v.encode()) for k, v in cors.response_headers(origin)]

    async def granted(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return granted if extra else send
