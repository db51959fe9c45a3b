"""Building the RequestEnvelope a gateway would have produced, from test-friendly input."""

from __future__ import annotations

import json as _json
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict, cast
from urllib.parse import urlencode

from gati.core.envelopes import Headers, RequestEnvelope
from gati.core.http import Request, version_preference

HeadersArg = Mapping[str, str] | Sequence[tuple[str, str]]
QueryArg = Mapping[str, str | int | Sequence[str | int]] | Sequence[tuple[str, str]] | str

GATEWAY_ID = "gw-test"
DEFAULT_TIMEOUT_S = 30.0


class RequestOptions(TypedDict, total=False):
    """How a test request differs from an empty one.

    Keys:
        json: a body sent as JSON (``None`` sends ``null``); sets the content type.
        content: a raw body; ``str`` is sent as UTF-8 text.
        headers: request headers (names are case-insensitive).
        query: query parameters, appended to any in the path.
        client: the client address the handler sees.
        timeout_s: the request deadline, as the gateway would set it.
        request_id: a fixed request id instead of a generated one.
    """

    json: Any
    content: bytes | str
    headers: HeadersArg
    query: QueryArg
    client: str | None
    timeout_s: float
    request_id: str


def _headers(given: HeadersArg | None) -> list[tuple[str, str]]:
    if given is None:
        return []
    items = given.items() if isinstance(given, Mapping) else given
    return [(str(k).lower(), str(v)) for k, v in items]


def _query(path: str, extra: QueryArg | None) -> tuple[str, str]:
    path, _, query = path.partition("?")
    if extra is not None:
        encoded = extra if isinstance(extra, str) else urlencode(
            list(extra.items()) if isinstance(extra, Mapping) else list(extra), doseq=True)
        query = f"{query}&{encoded}" if query and encoded else query or encoded
    return path, query


def build_envelope(
    method: str, path: str, options: RequestOptions, *, request_id: str, now_us: int,
    gateway_id: str = GATEWAY_ID, default_timeout_s: float = DEFAULT_TIMEOUT_S,
) -> RequestEnvelope:
    """The envelope for ``method path`` received at ``now_us``.

    Raises:
        ValueError: both ``json`` and ``content`` given.
    """
    if "json" in options and "content" in options:
        raise ValueError("give either json= or content=, not both")
    headers = _headers(options.get("headers"))
    names = {name for name, _ in headers}
    body = b""
    if "json" in options:
        body = _json.dumps(options["json"], separators=(",", ":")).encode()
        if "content-type" not in names:
            headers.append(("content-type", "application/json"))
    elif "content" in options:
        content = options["content"]
        if isinstance(content, str):
            body = content.encode()
            if "content-type" not in names:
                headers.append(("content-type", "text/plain; charset=utf-8"))
        else:
            body = content
    path, query = _query(path, options.get("query"))
    timeout_s = options.get("timeout_s", default_timeout_s)
    return RequestEnvelope(
        request_id=options.get("request_id", request_id), gateway_id=gateway_id,
        reply_topic=f"gati.replies.{gateway_id}", reply_partition=0,
        received_at_us=now_us, deadline_at_us=now_us + round(timeout_s * 1_000_000),
        method=method.upper(), path=path or "/", query=query, headers=_frozen(headers),
        body=body, client=options.get("client", "127.0.0.1"),
        version_pref=version_preference(headers, query),
    )



def _frozen(headers: list[tuple[str, str]]) -> Headers:
    return tuple(headers)


def make_request(
    method: str = "GET", path: str = "/", *, params: Mapping[str, str | int] | None = None,
    request_id: str = "req-test", now_us: int = 0, **options: Any,
) -> Request:
    """A ``Request`` as a handler receives it, for ``invoke``.

    ``params`` are the path parameters routing would have extracted; ``options`` are
    those of ``RequestOptions`` (json, content, headers, query, client).

    Raises:
        RequestError: a JSON content type with a body that is not JSON, as in a worker.
    """
    unknown = set(options) - set(RequestOptions.__annotations__)
    if unknown:
        raise TypeError(f"make_request() got unexpected options {sorted(unknown)}")
    env = build_envelope(method, path, cast(RequestOptions, options), request_id=request_id,
                         now_us=now_us)
    return Request.from_envelope(env, dict(params or {}))
