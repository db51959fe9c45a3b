"""``req`` and ``res``: what a handler sees of HTTP.

Built from a RequestEnvelope by the worker; ``Response`` is turned back into a
ResponseEnvelope. Neither touches a socket.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from gati.core.envelopes import Headers, RequestEnvelope
from gati.errors import GatiError, RequestError
from gati.policy import Principal
from gati.types.convert import json_default

JSON_TYPES = ("application/json", "application/problem+json")


class ResponseAlreadySent(GatiError):
    code = "response_already_sent"


def is_json_content_type(content_type: str | None) -> bool:
    if content_type is None:
        return False
    base = content_type.split(";", 1)[0].strip().lower()
    return base in JSON_TYPES or base.endswith("+json")


def parse_json(body: bytes) -> Any:
    """A client's JSON body: the one place untrusted JSON is parsed (worker, sealer,
    gateway), so every reader refuses the same inputs the same way.

    Raises:
        RequestError: ``invalid_json`` for text that is not JSON, or JSON nested too
            deeply to parse (a few hundred KB of "[[[[..." would otherwise raise
            RecursionError and take the process down).
    """
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(f"request body is not valid JSON: {exc}", code="invalid_json"
                           ) from None
    except RecursionError:
        raise RequestError("request body is nested too deeply to parse",
                           code="invalid_json") from None


@dataclass(frozen=True, slots=True)
class Request:
    """The request as the handler sees it; immutable."""

    request_id: str
    method: str
    path: str
    params: dict[str, str | int]
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw_body: bytes
    client: str | None
    body: Any = None
    # The caller the gateway authenticated; None: anonymous.
    auth: Principal | None = None

    @classmethod
    def from_envelope(cls, env: RequestEnvelope, params: dict[str, str | int]) -> Request:
        """Parse the body by content type.

        Raises:
            RequestError: a JSON content type whose body is not JSON (400 ``invalid_json``).
        """
        headers: dict[str, str] = {}
        for name, value in env.headers:
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        query: dict[str, list[str]] = {}
        for name, value in parse_qsl(env.query, keep_blank_values=True):
            query.setdefault(name, []).append(value)
        body: Any = None
        if env.body:
            ctype = headers.get("content-type")
            if is_json_content_type(ctype):
                body = parse_json(env.body)
            elif ctype and ctype.startswith("text/"):
                body = env.body.decode("utf-8", errors="replace")
            else:
                body = env.body
        return cls(
            request_id=env.request_id,
            method=env.method,
            path=env.path,
            params=params,
            query=query,
            headers=headers,
            raw_body=env.body,
            client=env.client,
            body=body,
            auth=env.auth.principal if env.auth is not None else None,
        )

    def query_one(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass(slots=True)
class Response:
    """Built by the handler: ``res.status(201).json(user)``. It can be sent once."""

    status_code: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    sent: bool = False
    # The value given to json(), kept so the response contract can check it.
    value: Any = None

    def reset(self) -> None:
        """Forget everything set so far (before a catch hook writes the answer)."""
        self.status_code = 200
        self.headers = []
        self.body = b""
        self.sent = False
        self.value = None

    def status(self, code: int) -> Response:
        if not 100 <= code <= 599:
            raise ValueError(f"HTTP status {code} is outside 100..599")
        self.status_code = code
        return self

    def header(self, name: str, value: str) -> Response:
        self.headers.append((name.lower(), value))
        return self

    def _send(self, body: bytes, content_type: str | None) -> None:
        if self.sent:
            raise ResponseAlreadySent("the response was already sent")
        if content_type is not None:
            self.headers = [(k, v) for k, v in self.headers if k != "content-type"]
            self.headers.append(("content-type", content_type))
        self.body = body
        self.sent = True

    def json(self, value: Any) -> None:
        data = json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                          default=json_default)
        self._send(data.encode(), "application/json")
        self.value = value

    def text(self, value: str, content_type: str = "text/plain; charset=utf-8") -> None:
        self._send(value.encode(), content_type)

    def bytes(self, value: bytes, content_type: str = "application/octet-stream") -> None:
        self._send(value, content_type)

    def empty(self, status: int = 204) -> None:
        self.status(status)
        self._send(b"", None)

    def redirect(self, location: str, status: int = 307) -> None:
        self.status(status).header("location", location)
        self._send(b"", None)

    def frozen_headers(self) -> Headers:
        return tuple(self.headers)


def error_body(status: int, code: str, message: str, request_id: str, **extra: Any) -> bytes:
    """The structured body of every error Gati answers by itself."""
    error: dict[str, Any] = {"status": status, "code": code, "message": message}
    error.update(extra)
    error["request_id"] = request_id
    return json.dumps({"error": error}, separators=(",", ":")).encode()


VERSION_HEADER = "x-gati-version"


def version_preference(headers: Iterable[tuple[str, str]], query: str) -> str | None:
    """The version a client asks for: the X-Gati-Version header, else ``?version=``."""
    for name, value in headers:
        if name == VERSION_HEADER:
            return value
    return next((v for k, v in parse_qsl(query) if k == "version"), None)
