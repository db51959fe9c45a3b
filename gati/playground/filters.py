"""Query strings to search filters and cursors, with a 400 naming the field at fault.

Pure parsing, no I/O: the list, the live tail and batch replay read their filters here,
so one filter means the same thing in all three.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from gati.errors import RequestError
from gati.store.search import Key, RequestFilter

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
_AGO = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
FILTER_FIELDS = ("since", "until", "method", "path", "handler", "version", "status",
                 "error_code", "request_id", "header", "body")


def invalid(field: str, message: str, *, status: int = 400,
            code: str = "invalid_input") -> RequestError:
    """A client error about ``field``; the server puts the field in the error body.

    The field travels as an exception note (``field=...``) because the error tree is
    fixed in ``gati.errors`` and this is a RequestError like any other.
    """
    err = RequestError(f"{field}: {message}", code=code, status=status)
    err.add_note(f"field={field}")
    return err


def field_of(exc: BaseException) -> str | None:
    """The field :func:`invalid` named, if any."""
    for note in getattr(exc, "__notes__", ()):
        if note.startswith("field="):
            return str(note[len("field="):])
    return None


def when(field: str, text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (UTC unless it says) or an age like ``15m``, ``2h``, ``1d``."""
    text = text.strip()
    m = _AGO.match(text)
    if m:
        return (now or datetime.now(UTC)) - timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(field, f"{text!r} is not an ISO 8601 time or an age like 15m, 2h, "
                             "1d") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _status(text: str) -> tuple[int | None, int | None]:
    t = text.strip().lower()
    if re.fullmatch(r"[1-5]xx", t):
        return None, int(t[0])
    if re.fullmatch(r"[1-5]\d\d", t):
        return int(t), None
    raise invalid("status", f"{text!r} is not an HTTP status (200) or class (5xx)")


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise invalid("header", f"{text!r} is not name:value (e.g. x-tenant:acme)")
    return name.strip().lower(), value.strip()


def _body(text: str) -> tuple[tuple[str | int, ...], Any]:
    path, sep, value = text.partition("=")
    if not sep or not path.strip():
        raise invalid("body", f"{text!r} is not field=value (e.g. user.email=ada@example.com)")
    parts: list[str | int] = []
    for part in path.strip().split("."):
        if not part:
            raise invalid("body", f"{path!r} has an empty key")
        parts.append(int(part) if part.isdigit() else part)
    try:
        expected: Any = json.loads(value)
    except ValueError:
        expected = value
    return tuple(parts), expected


def parse_filter(params: Mapping[str, str]) -> RequestFilter:
    """A RequestFilter from query parameters; unknown parameters are refused too."""
    unknown = sorted(set(params) - set(FILTER_FIELDS) - {"cursor", "limit", "token"})
    if unknown:
        raise invalid(unknown[0], f"unknown filter (known: {', '.join(FILTER_FIELDS)})")
    got = {k: v for k, v in params.items() if v.strip() != ""}
    method = got.get("method", "").strip().upper() or None
    if method is not None and method not in _METHODS:
        raise invalid("method", f"{got['method']!r} is not an HTTP method")
    status, status_class = _status(got["status"]) if "status" in got else (None, None)
    since = when("since", got["since"]) if "since" in got else None
    until = when("until", got["until"]) if "until" in got else None
    if since is not None and until is not None and until <= since:
        raise invalid("until", "must be later than since")
    return RequestFilter(
        since=since, until=until, method=method, path=got.get("path"),
        handler=got.get("handler"), version=got.get("version"), status=status,
        status_class=status_class, error_code=got.get("error_code"),
        request_id=got.get("request_id"),
        header=_header(got["header"]) if "header" in got else None,
        body_field=_body(got["body"]) if "body" in got else None,
    )


def parse_limit(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise invalid("limit", f"{text!r} is not a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def encode_cursor(key: Key | None) -> str | None:
    if key is None:
        return None
    raw = json.dumps([key.received_at.isoformat(), key.request_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None) -> Key | None:
    """The key a cursor stands for; a cursor is opaque to clients, but never trusted."""
    if not text:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        at, rid = json.loads(raw)
        moment = datetime.fromisoformat(at)
        if not isinstance(rid, str) or moment.tzinfo is None:
            raise ValueError(rid)
    except (ValueError, TypeError, binascii.Error):
        raise invalid("cursor", "not a cursor this API gave out") from None
    return Key(moment, rid)
