"""Confluent's Schema Registry REST API as a plain ASGI app, as the playground is.

The subset real clients call (confluent-kafka's ``SchemaRegistryClient``, Kafka Connect's
converters, kcat's ``-s avro``): schemas by id, subjects and their versions, register and
look up, compatibility checks and the compatibility config. Bodies are
``application/vnd.schemaregistry.v1+json``; every refusal is
``{"error_code": ..., "message": ...}`` with Confluent's codes.

Writes (registering, setting config) need the token, as ``Authorization: Bearer <token>``
or as the password of HTTP Basic (what ``basic.auth.user.info`` sends; any user name),
compared in constant time. Without a configured token the registry is read-only.
Reads are open: the schemas are the topics' public contract, not data.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from gati.http_body import BodyTooLarge, read_body
from gati.registry.service import Registry, RegistryError, parse_schema

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
CONTENT_TYPE = b"application/vnd.schemaregistry.v1+json"
MAX_BODY_BYTES = 1024 * 1024
_SUBJECT = r"(?P<subject>[^/]+)"
_VERSION = r"(?P<version>[^/]+)"


class _Call:
    def __init__(self, scope: Scope, receive: Receive, params: dict[str, str]) -> None:
        self.receive, self.params = receive, params
        raw = scope.get("query_string", b"").decode("latin-1")
        self.query: dict[str, str] = dict(parse_qsl(raw))
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                        for k, v in scope.get("headers", [])}

    def flag(self, name: str) -> bool:
        return str(self.query.get(name, "")).lower() == "true"

    async def json(self) -> dict[str, Any]:
        try:
            data = await read_body(self.receive, MAX_BODY_BYTES,
                                   declared_length=self.headers.get("content-length"))
        except BodyTooLarge:
            raise RegistryError(413, 413, f"Request body over {MAX_BODY_BYTES} bytes") from None
        try:
            body = json.loads(data or b"null")
        except ValueError as exc:
            raise RegistryError(400, 400, f"Unrecognized request body: not JSON ({exc})"
                                ) from None
        if not isinstance(body, dict):
            raise RegistryError(400, 400, "Unrecognized request body: expected a JSON object")
        return body

    async def schema(self) -> str:
        body = await self.json()
        return parse_schema(body.get("schema"), body.get("schemaType"), body.get("references"))


Route = tuple[str, re.Pattern[str], Callable[[_Call], Awaitable[Any]], bool]


class RegistryServer:
    """ASGI app over ``registry``; ``token`` None makes it read-only."""

    def __init__(self, registry: Registry, *, token: str | None = None) -> None:
        self.registry = registry
        self.token = token
        r = registry
        self._routes: list[Route] = [
            ("GET", re.compile(r"/"), _root, False),
            ("GET", re.compile(r"/schemas/types"), _types, False),
            ("GET", re.compile(r"/schemas/ids/(?P<id>\d+)"), self._by_id, False),
            ("GET", re.compile(r"/schemas/ids/(?P<id>\d+)/schema"), self._raw_by_id, False),
            ("GET", re.compile(r"/subjects"), lambda c: r.subjects(), False),
            ("GET", re.compile(rf"/subjects/{_SUBJECT}/versions"), self._versions, False),
            ("GET", re.compile(rf"/subjects/{_SUBJECT}/versions/{_VERSION}"),
             self._version, False),
            ("GET", re.compile(rf"/subjects/{_SUBJECT}/versions/{_VERSION}/schema"),
             self._raw_version, False),
            ("POST", re.compile(rf"/subjects/{_SUBJECT}/versions"), self._register, True),
            ("POST", re.compile(rf"/subjects/{_SUBJECT}"), self._lookup, False),
            ("POST", re.compile(rf"/compatibility/subjects/{_SUBJECT}/versions/{_VERSION}"),
             self._compatibility, False),
            ("POST", re.compile(rf"/compatibility/subjects/{_SUBJECT}/versions"),
             self._compatibility, False),
            ("GET", re.compile(r"/config"), self._global_config, False),
            ("PUT", re.compile(r"/config"), self._set_global_config, True),
            ("GET", re.compile(rf"/config/{_SUBJECT}"), self._config, False),
            ("PUT", re.compile(rf"/config/{_SUBJECT}"), self._set_config, True),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            status, result = 200, await self._dispatch(scope, receive)
        except RegistryError as exc:
            status, result = exc.status, {"error_code": exc.error_code, "message": exc.message}
        except Exception:
            log.exception("registry: %s %s failed", scope["method"], scope["path"])
            status, result = 500, {"error_code": 50001, "message": "Internal error (see the "
                                   "registry's log)"}
        headers = [(b"content-type", CONTENT_TYPE)]
        if status == 401:
            headers.append((b"www-authenticate", b'Basic realm="gati-registry", Bearer'))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": json.dumps(result).encode()})

    async def _dispatch(self, scope: Scope, receive: Receive) -> Any:
        method, path = scope["method"], scope["path"].rstrip("/") or "/"
        allowed = []
        for verb, pattern, handler, writes in self._routes:
            m = pattern.fullmatch(path)
            if m is None:
                continue
            if verb != method:
                allowed.append(verb)
                continue
            call = _Call(scope, receive, m.groupdict())
            if writes:
                self._check_token(call)
            return await handler(call)
        if allowed:
            raise RegistryError(405, 405, f"HTTP {method} is not supported here "
                                f"({', '.join(allowed)})")
        raise RegistryError(404, 404, f"HTTP 404 Not Found: {path}")

    def _check_token(self, call: _Call) -> None:
        if self.token is None:
            raise RegistryError(401, 40101, "Unauthorized: this registry was started without "
                                "a token and is read-only (set GATI_REGISTRY_TOKEN)")
        if not hmac.compare_digest(_presented(call.headers.get("authorization", "")).encode(),
                                   self.token.encode()):
            raise RegistryError(401, 40101, "Unauthorized: writes need the registry token "
                                "(Authorization: Bearer <token>, or as the Basic password)")

    async def _by_id(self, call: _Call) -> Any:
        return {"schema": await self.registry.schema_by_id(int(call.params["id"]))}

    async def _raw_by_id(self, call: _Call) -> Any:
        return json.loads(await self.registry.schema_by_id(int(call.params["id"])))

    async def _versions(self, call: _Call) -> Any:
        return [v.version for v in await self.registry.versions(call.params["subject"])]

    async def _version(self, call: _Call) -> Any:
        return (await self.registry.version(call.params["subject"],
                                            call.params["version"])).as_json()

    async def _raw_version(self, call: _Call) -> Any:
        found = await self.registry.version(call.params["subject"], call.params["version"])
        return json.loads(found.schema)

    async def _register(self, call: _Call) -> Any:
        return {"id": await self.registry.register(call.params["subject"], await call.schema())}

    async def _lookup(self, call: _Call) -> Any:
        return (await self.registry.lookup(call.params["subject"], await call.schema())).as_json()

    async def _compatibility(self, call: _Call) -> Any:
        text = await call.schema()
        try:
            problems = await self.registry.compatible(
                call.params["subject"], call.params.get("version", "latest"), text)
        except RegistryError as exc:
            if exc.error_code == 40401 and "version" not in call.params:
                return {"is_compatible": True}  # nothing to be incompatible with yet
            raise
        answer: dict[str, Any] = {"is_compatible": not problems}
        if call.flag("verbose"):
            answer["messages"] = problems
        return answer

    async def _global_config(self, call: _Call) -> Any:
        return {"compatibilityLevel": self.registry.level("")}

    async def _set_global_config(self, call: _Call) -> Any:
        return {"compatibility": self.registry.set_level("", (await call.json())
                                                         .get("compatibility"))}

    async def _config(self, call: _Call) -> Any:
        level = self.registry.subject_level(call.params["subject"], call.flag("defaultToGlobal"))
        return {"compatibilityLevel": level}

    async def _set_config(self, call: _Call) -> Any:
        level = (await call.json()).get("compatibility")
        return {"compatibility": self.registry.set_level(call.params["subject"], level)}


def _presented(header: str) -> str:
    kind, _, value = header.partition(" ")
    if kind.lower() == "bearer":
        return value.strip()
    if kind.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return ""


async def _root(call: _Call) -> Any:
    return {}


async def _types(call: _Call) -> Any:
    return ["AVRO"]


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
