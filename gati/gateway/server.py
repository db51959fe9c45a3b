"""The gateway's HTTP protocol: uvicorn's httptools parser, with a header deadline.

uvicorn bounds the idle time between requests (keep-alive) but not the time a client
takes to send a request's headers, so a client trickling one byte a second holds its
connection (and a file descriptor) for as long as it likes: the slowloris attack. Each
connection here must finish its headers within ``header_timeout_s`` of connecting (or of
its previous response); a late one is closed. Slow bodies are bounded in the gateway
itself (``Settings.body_timeout_s``, answered 408).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _HeaderDeadline(HttpToolsProtocol):
    header_timeout_s = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:  # the next request on a kept-alive connection
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def guarded_http(header_timeout_s: float) -> type[Any]:
    """A uvicorn ``http`` protocol class that closes connections slow to send headers."""
    return type("GatiHttpProtocol", (_HeaderDeadline,), {"header_timeout_s": header_timeout_s})
