"""String format checks used by compiled validators, and the JSON forms of non-JSON values.

Each check takes a ``str`` and returns ``bool``; they are called only on values already
known to be strings. The rules are deliberately the ones the Avro codec and the
converter rely on: a ``date-time`` must carry a UTC offset (RFC 3339), because an Avro
``timestamp-micros`` is an instant and a naive time would come back shifted.
"""

from __future__ import annotations

import binascii
import datetime as dt
import ipaddress
import re
from collections.abc import Callable

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$").match
_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
).match
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]*$").match


def is_email(value: str) -> bool:
    return _EMAIL(value) is not None


def is_uuid(value: str) -> bool:
    return _UUID(value) is not None


def is_uri(value: str) -> bool:
    return _URI(value) is not None


def is_datetime(value: str) -> bool:
    """An ISO 8601 date and time with a UTC offset (``Z`` or ``+hh:mm``)."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return parsed.tzinfo is not None and len(value) > 10


def is_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_time(value: str) -> bool:
    try:
        dt.time.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_ipv4(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def is_ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


CHECKS: dict[str, Callable[[str], bool]] = {
    "email": is_email,
    "uuid": is_uuid,
    "date-time": is_datetime,
    "date": is_date,
    "time": is_time,
    "uri": is_uri,
    "ipv4": is_ipv4,
    "ipv6": is_ipv6,
}


def bytes_length(value: object) -> int:
    """Length of a bytes value (raw, or standard base64 text in JSON); -1 if neither."""
    if isinstance(value, str):
        try:
            return len(binascii.a2b_base64(value, strict_mode=True))
        except (binascii.Error, ValueError):
            return -1
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    return -1


def decode_bytes(value: str | bytes) -> bytes:
    """The bytes of a validated bytes value."""
    if isinstance(value, str):
        return binascii.a2b_base64(value, strict_mode=True)
    return bytes(value)


def encode_bytes(value: bytes) -> str:
    """The JSON form of bytes: standard base64 with padding."""
    return binascii.b2a_base64(value, newline=False).decode("ascii")
