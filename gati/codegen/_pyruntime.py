"""The fixed parts of the generated Python client (kept apart from the generator).

Both texts must stay valid under ``mypy --strict`` once the generated parts are filled in;
``tests/unit/codegen`` type-checks a generated client to hold them to it.
"""

from __future__ import annotations

MODELS_PRELUDE = '''from __future__ import annotations

import base64
import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

T = TypeVar("T")


def _fail(expected: str, value: Any) -> TypeError:
    return TypeError(f"expected {expected}, got {type(value).__name__}: {value!r:.80}")


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _fail("string", value)


def _int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _fail("integer", value)


def _float(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise _fail("number", value)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _fail("boolean", value)


def _none(value: Any) -> None:
    if value is not None:
        raise _fail("null", value)


def _any(value: Any) -> Any:
    return value


def _object(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise _fail("object", value)


def _datetime(value: Any) -> datetime.datetime:
    return datetime.datetime.fromisoformat(_str(value).replace("Z", "+00:00"))


def _date(value: Any) -> datetime.date:
    return datetime.date.fromisoformat(_str(value))


def _list(item: Callable[[Any], T]) -> Callable[[Any], list[T]]:
    def decode(value: Any) -> list[T]:
        if not isinstance(value, list):
            raise _fail("array", value)
        return [item(v) for v in value]

    return decode


def _map(item: Callable[[Any], T]) -> Callable[[Any], dict[str, T]]:
    def decode(value: Any) -> dict[str, T]:
        return {str(k): item(v) for k, v in _object(value).items()}

    return decode


def _nullable(inner: Callable[[Any], T]) -> Callable[[Any], T | None]:
    def decode(value: Any) -> T | None:
        return None if value is None else inner(value)

    return decode


def _literal(*allowed: Any) -> Callable[[Any], Any]:
    def decode(value: Any) -> Any:
        if any(value == a and type(value) is type(a) for a in allowed):
            return value
        raise _fail(f"one of {allowed!r}", value)

    return decode


def _union(*variants: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def decode(value: Any) -> Any:
        for variant in variants:
            try:
                return variant(value)
            except (TypeError, ValueError, KeyError):
                continue
        raise _fail("a value of one of the union's variants", value)

    return decode


def _optional(data: dict[str, Any], key: str, decode: Callable[[Any], T]) -> T | None:
    value = data.get(key)
    return None if value is None else decode(value)


def to_json(value: Any) -> Any:
    """The JSON data model of a value of these types (dataclasses, dates, bytes, ...)."""
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return value
'''

CLIENT_PRELUDE = '''from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

__MODELS_IMPORT__

VERSION_HEADER = "X-Gati-Version"
# Operation -> the version this client was generated for (``--version``), if any.
PINNED: dict[str, str] = __PINS__


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One failing field of a body: where, what was expected, what was there."""

    path: str
    expected: str
    actual: str
    code: str


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """The structured error every Gati error response carries."""

    status: int
    code: str
    message: str
    request_id: str | None = None
    issues: tuple[ValidationIssue, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> ErrorBody | None:
        """The error body of a response's JSON, or None if it is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("error"), dict):
            return None
        e: dict[str, Any] = data["error"]
        issues = tuple(
            ValidationIssue(str(i.get("path", "")), str(i.get("expected", "")),
                            str(i.get("actual", "")), str(i.get("code", "")))
            for i in e.get("issues") or () if isinstance(i, dict)
        )
        known = {"status", "code", "message", "request_id", "issues"}
        return cls(
            status=int(e.get("status", 0)),
            code=str(e.get("code", "")),
            message=str(e.get("message", "")),
            request_id=str(e["request_id"]) if e.get("request_id") is not None else None,
            issues=issues,
            extra={k: v for k, v in e.items() if k not in known},
        )


class GatiApiError(Exception):
    """The server answered an error status; ``error`` is its structured body."""

    def __init__(self, status: int, error: ErrorBody | None, response: httpx.Response) -> None:
        detail = f"{error.code}: {error.message}" if error else response.text[:200]
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.error = error
        self.response = response

    @property
    def code(self) -> str | None:
        return self.error.code if self.error else None

    @property
    def request_id(self) -> str | None:
        value = self.response.headers.get("x-request-id")
        return None if value is None else str(value)


def _segment(value: int | str) -> str:
    return quote(str(value), safe="")


def _body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    if "json" in response.headers.get("content-type", ""):
        return response.json()
    return response.text


class Client:
    """Async client. ``version`` pins every call (else each call's own ``version``,
    else the version the client was generated for, else the server's latest).

    Use as ``async with Client(url) as api: ...`` or call ``aclose()``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        version: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.version = version
        self._own = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._base = base_url.rstrip("/")
        self._headers = dict(headers or {})

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own:
            await self._http.aclose()

    async def _send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str | None],
        body: Any,
        operation: str,
        version: str | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        sent = {**self._headers, **(headers or {})}
        chosen = version or self.version or PINNED.get(operation)
        if chosen:
            sent[VERSION_HEADER] = chosen
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            sent["content-type"] = "application/json"
        params = {k: v for k, v in query.items() if v is not None}
        response = await self._http.request(
            method, self._base + path, params=params, content=content, headers=sent
        )
        if response.status_code >= 400:
            try:
                error = ErrorBody.from_json(response.json())
            except ValueError:
                error = None
            raise GatiApiError(response.status_code, error, response)
        return response

__METHODS__
'''
