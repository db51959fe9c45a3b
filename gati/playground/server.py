"""The playground as a plain ASGI application, as the gateway is: no framework needed.

A dozen routes, JSON in and out, a server-sent-event stream for the live tail, and the
page's own three files from this package. Access rules, checked before any route:

- with no ``token`` it serves loopback only: the bind address is refused otherwise, and
  a request whose ``Host`` is not a loopback name is refused too (a DNS-rebinding page
  would send its own host name);
- with a token every API call carries it (``Authorization: Bearer``, or ``?token=`` for
  the event stream, which browsers open without headers), compared in constant time;
- a state-changing call (POST) needs the ``X-Gati-Playground`` header and, when the
  browser sends an ``Origin``, one naming this server: a cross-site form cannot set the
  header, and a cross-site script cannot without a CORS preflight, which is never granted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl

from gati.core.http import error_body
from gati.errors import ConfigError, GatiError
from gati.http_body import BodyTooLarge, read_body
from gati.playground.filters import field_of, invalid, parse_filter
from gati.playground.openapi import openapi
from gati.playground.records import MAX_IMPORT_BYTES
from gati.playground.service import Playground

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[["_Call"], Awaitable[Any]]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
CSRF_HEADER = "x-gati-playground"
TAIL_POLL_S = 0.25
_STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
           "app.css": "text/css; charset=utf-8"}


def playground_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/"


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token: the record is not public."""
    if token is None and host not in LOOPBACK_HOSTS:
        raise ConfigError(f"the playground listens on {host} only with a token: set "
                          "GATI_PLAYGROUND_TOKEN (or listen on 127.0.0.1)")
    if token is not None and len(token) < 16:
        raise ConfigError("GATI_PLAYGROUND_TOKEN must be at least 16 characters")


class _Call:
    """One API call: its path parameters, query, headers and (read on demand) body."""

    def __init__(self, scope: Scope, receive: Receive, params: dict[str, str]) -> None:
        self.scope, self.receive, self.params = scope, receive, params
        self.query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                                    keep_blank_values=True))
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                        for k, v in scope.get("headers", [])}

    async def body(self, limit: int = MAX_IMPORT_BYTES) -> bytes:
        try:
            return await read_body(self.receive, limit,
                                   declared_length=self.headers.get("content-length"))
        except BodyTooLarge:
            raise invalid("body", f"over the {limit} byte limit", status=413,
                          code="too_large") from None

    async def json(self) -> Any:
        data = await self.body()
        if not data.strip():
            return None
        try:
            return json.loads(data)
        except ValueError:
            raise invalid("body", "not JSON") from None


class PlaygroundServer:
    """ASGI app over ``playground``; ``token`` None means loopback only (see module doc)."""

    def __init__(self, playground: Playground, *, token: str | None = None) -> None:
        self.playground = playground
        self.token = token
        self.stopping = asyncio.Event()
        pg = playground
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("GET", re.compile(r"/api/openapi\.json"), _openapi),
            ("GET", re.compile(r"/api/requests"), lambda c: pg.search(c.query)),
            ("GET", re.compile(r"/api/requests/(?P<rid>[^/]+)"),
             lambda c: pg.request(c.params["rid"])),
            ("GET", re.compile(r"/api/requests/(?P<rid>[^/]+)/export"), self._export),
            ("POST", re.compile(r"/api/requests/(?P<rid>[^/]+)/replay"), self._replay),
            ("POST", re.compile(r"/api/import"), self._import),
            ("POST", re.compile(r"/api/replay/batch"), self._batch),
            ("POST", re.compile(r"/api/replay/batches"), self._start_batch),
            ("GET", re.compile(r"/api/replay/batches/(?P<job>[^/]+)"),
             lambda c: _done(pg.batch_job(c.params["job"]))),
            ("GET", re.compile(r"/api/versions/compatibility"),
             lambda c: pg.compatibility(c.query)),
            ("GET", re.compile(r"/api/versions"),
             lambda c: pg.versions(c.query.get("handler") or None)),
            ("GET", re.compile(r"/api/gates"), self._gates),
            ("POST", re.compile(r"/api/gates"), self._add_gate),
            ("POST", re.compile(r"/api/gates/(?P<gid>[^/]+)/delete"), self._remove_gate),
            ("POST", re.compile(r"/api/paused/(?P<pid>[^/]+)"), self._decide),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, self.stopping)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        try:
            self._check_host(scope)
            if path == "/" or path.removeprefix("/static/") in _STATIC:
                await _static(send, "index.html" if path == "/" else path[len("/static/"):])
                return
            if not path.startswith("/api/"):
                raise invalid("path", f"no page {path}", status=404, code="not_found")
            call = self._authorised(scope, receive)
            if path == "/api/tail":
                await self._tail(call, send)
                return
            result = await self._dispatch(scope["method"], path, call)
        except GatiError as exc:
            await _error(send, exc)
            return
        except Exception:
            log.exception("playground: %s %s failed", scope["method"], path)
            await _error(send, GatiError("internal error (see the playground's log)"))
            return
        await _json(send, 200, result)

    async def _dispatch(self, method: str, path: str, call: _Call) -> Any:
        allowed = []
        for verb, pattern, handler in self._routes:
            m = pattern.fullmatch(path)
            if m is None:
                continue
            if verb != method:
                allowed.append(verb)
                continue
            call.params = m.groupdict()
            if verb == "POST":
                self._check_csrf(call)
            return await handler(call)
        if allowed:
            raise invalid("method", f"{method} is not allowed here ({', '.join(allowed)})",
                          status=405, code="method_not_allowed")
        raise invalid("path", f"no API route {path}", status=404, code="not_found")

    def _check_host(self, scope: Scope) -> None:
        if self.token is not None:
            return
        host = next((v.decode("latin-1") for k, v in scope.get("headers", [])
                     if k == b"host"), "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name not in LOOPBACK_HOSTS:
            raise invalid("host", f"{name or 'no host'} is not a loopback name: set "
                                  "GATI_PLAYGROUND_TOKEN to serve other hosts",
                          status=403, code="forbidden")

    def _authorised(self, scope: Scope, receive: Receive) -> _Call:
        call = _Call(scope, receive, {})
        if self.token is None:
            return call
        given = call.headers.get("authorization", "")
        presented = given[7:] if given.lower().startswith("bearer ") else \
            call.query.get("token", "")
        if not hmac.compare_digest(presented.encode(), self.token.encode()):
            raise invalid("token", "missing or wrong token (Authorization: Bearer <token>)",
                          status=401, code="unauthorized")
        return call

    def _check_csrf(self, call: _Call) -> None:
        if call.headers.get(CSRF_HEADER) != "1":
            raise invalid(CSRF_HEADER, f"state-changing calls need the header "
                                       f"'{CSRF_HEADER}: 1'", status=403, code="csrf")
        origin = call.headers.get("origin")
        if origin is not None and origin.split("://", 1)[-1] != call.headers.get("host"):
            raise invalid("origin", f"{origin} is not this playground", status=403,
                          code="csrf")

    async def _export(self, call: _Call) -> Any:
        return _Download(await self.playground.export(call.params["rid"]),
                         f"gati-{call.params['rid']}.json")

    async def _replay(self, call: _Call) -> Any:
        return await self.playground.replay(call.params["rid"], await call.json())

    async def _import(self, call: _Call) -> Any:
        return await self.playground.replay_import(await call.body(), _options(call.query))

    async def _batch(self, call: _Call) -> Any:
        return await self.playground.batch(await call.json())

    async def _start_batch(self, call: _Call) -> Any:
        return await self.playground.start_batch(await call.json())

    async def _gates(self, call: _Call) -> Any:
        return self.playground.gates.state()

    async def _add_gate(self, call: _Call) -> Any:
        return await self.playground.gates.add(await call.json())

    async def _remove_gate(self, call: _Call) -> Any:
        return await self.playground.gates.remove(call.params["gid"])

    async def _decide(self, call: _Call) -> Any:
        return await self.playground.gates.decide(call.params["pid"], await call.json())

    async def _tail(self, call: _Call, send: Send) -> None:
        """Server-sent events: each newly recorded request matching the filters."""
        flt = parse_filter({k: v for k, v in call.query.items() if k != "token"})
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream"), (b"cache-control", b"no-store")]})
        gone = asyncio.ensure_future(_disconnected(call.receive))
        try:
            _, state = await self.playground.tail(flt, None)
            await send({"type": "http.response.body", "body": b": tail\n\n", "more_body": True})
            while not gone.done() and not self.stopping.is_set():
                items, state = await self.playground.tail(flt, state)
                if items:
                    await send({"type": "http.response.body", "more_body": True,
                                "body": "".join(_event(i) for i in items).encode()})
                if state.more:
                    continue  # behind: read on without waiting
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(gone), TAIL_POLL_S)
        finally:
            gone.cancel()
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b""})


def _event(item: Any) -> str:
    return f"event: request\ndata: {json.dumps(item, default=str)}\n\n"


def _options(query: dict[str, str]) -> dict[str, Any] | None:
    opts: dict[str, Any] = {k: v for k, v in query.items() if k in ("version",) and v}
    if query.get("raw") in ("1", "true"):
        opts["raw"] = True
    return opts or None


class _Download:
    def __init__(self, doc: Any, filename: str) -> None:
        self.doc, self.filename = doc, filename


async def _openapi(call: _Call) -> Any:
    return openapi()


async def _done(value: Any) -> Any:
    return value


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _lifespan(receive: Receive, send: Send, stopping: asyncio.Event) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            stopping.set()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _json(send: Send, status: int, value: Any) -> None:
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    if isinstance(value, _Download):
        headers.append((b"content-disposition",
                        f'attachment; filename="{value.filename}"'.encode()))
        value = value.doc
    body = json.dumps(value, default=str, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _error(send: Send, exc: GatiError) -> None:
    status = getattr(exc, "status", 500)
    status = status if 400 <= status < 600 else 500
    field = field_of(exc)
    extra = {"field": field} if field else {}
    body = error_body(status, exc.code, exc.message, "", **extra)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def _static(send: Send, name: str) -> None:
    data = resources.files("gati.playground").joinpath("static", name).read_bytes()
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", _STATIC[name].encode()), (b"cache-control", b"no-cache"),
        (b"content-security-policy",
         b"default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:"),
        (b"x-frame-options", b"DENY")]})
    await send({"type": "http.response.body", "body": data})


def uvicorn_server(server: PlaygroundServer, host: str, port: int) -> Any:
    """A uvicorn server for ``server``; open event streams get a second to end on exit."""
    import uvicorn

    return uvicorn.Server(uvicorn.Config(
        server, host=host, port=port, lifespan="on", log_level="warning", access_log=False,
        timeout_graceful_shutdown=1))
