"""Reading an ASGI request body under a size limit.

One reader for every HTTP server Gati runs (gateway, playground, schema registry), so a
limit holds the same way everywhere: a declared ``Content-Length`` over it is refused
before a byte is read, and a body that grows past it is cut off as it streams in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class BodyTooLarge(Exception):
    """Over the limit. Not a GatiError: each server answers it in its own error format
    (the gateway's 413 envelope, the registry's Confluent body, the playground's)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is over {limit} bytes")
        self.limit = limit


async def read_body(receive: Receive, limit: int, *, declared_length: str | None = None) -> bytes:
    """The whole body; raises BodyTooLarge. A client gone mid-body ends it early."""
    if declared_length is not None and declared_length.strip().isdigit() \
            and int(declared_length) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
