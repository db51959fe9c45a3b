"""The playground beside another ASGI app on one port: how ``gati dev`` serves it.

``gati dev`` already listens for the app; a second port would be one more thing to
pick, and one more that can clash. Everything under ``/_gati/playground/`` goes to the
playground (the page uses relative URLs, so it works under any prefix); everything
else, lifespan included, goes to the app. The app's shutdown also ends the
playground's open event streams.
"""

from __future__ import annotations

from gati.playground.server import LOOPBACK_HOSTS, Message, PlaygroundServer, Receive, Scope, Send

PREFIX = "/_gati/playground"


class Mounted:
    """ASGI: ``playground`` under :data:`PREFIX`, ``app`` for the rest."""

    def __init__(self, app: object, playground: PlaygroundServer) -> None:
        self.app = app
        self.playground = playground

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._watch(receive), send)  # type: ignore[operator]
            return
        path: str = scope.get("path", "")
        if path == PREFIX:
            await send({"type": "http.response.start", "status": 308,
                        "headers": [(b"location", (PREFIX + "/").encode())]})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["type"] == "http" and path.startswith(PREFIX + "/"):
            inner = dict(scope, path=path[len(PREFIX):],
                         root_path=scope.get("root_path", "") + PREFIX)
            await self.playground(inner, receive, send)
            return
        await self.app(scope, receive, send)  # type: ignore[operator]

    def _watch(self, receive: Receive) -> Receive:
        async def watched() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                self.playground.stopping.set()
            return message

        return watched


def can_mount(host: str, token: str | None) -> bool:
    """Beyond loopback the playground needs a token; without one ``gati dev`` leaves it
    out rather than refusing to start."""
    return token is not None or host in LOOPBACK_HOSTS
