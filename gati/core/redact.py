"""Secrets as values that cannot leak by accident, and the scrubber that enforces it.

A ``Secret`` prints as ``Secret('***')``; its value comes out only through ``reveal()``.
Every revealed value is registered with the ``Redactor`` of the worker, and every string
Gati records (lifecycle details, effect arguments and results, log lines, snapshots,
error messages) passes through ``Redactor.scrub`` first. So even a secret a handler
forwards to a module, formats into an exception or logs never reaches the log or the
database.
"""

from __future__ import annotations

import hashlib
import hmac
import threading

MASK = "[REDACTED]"
_MIN_LEN = 4  # shorter values would mask ordinary text everywhere


class Secret:
    __slots__ = ("_name", "_redactor", "_value")

    def __init__(self, name: str, value: str, redactor: Redactor | None = None) -> None:
        self._name = name
        self._value = value
        self._redactor = redactor

    @property
    def name(self) -> str:
        return self._name

    def reveal(self) -> str:
        if self._redactor is not None:
            self._redactor.register(self._value)
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self._name!r}, '***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled or copied out of the process")


class Masker:
    """What a redacted value becomes in the record.

    With a key, a keyed token of the value (``[REDACTED:3f9a...]``): equal values get
    equal tokens and different values different ones, so code that compares a header
    with a secret replays exactly, while the value itself cannot be read back. Without a
    key, one constant mask.
    """

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key

    def mask(self, value: str) -> str:
        if self._key is None:
            return MASK
        digest = hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:16]
        return f"[REDACTED:{digest}]"


class Redactor:
    """Known secret values, and their removal from any text that is about to be recorded."""

    def __init__(self, masker: Masker | None = None) -> None:
        self.masker = masker or Masker()
        self._values: set[str] = set()
        self._ordered: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def register(self, value: str) -> None:
        if len(value) < _MIN_LEN or value in self._values:
            return
        with self._lock:
            self._values.add(value)
            # Longest first, so a secret that contains another is masked whole.
            self._ordered = tuple(sorted(self._values, key=len, reverse=True))

    @property
    def active(self) -> bool:
        return bool(self._ordered)

    def scrub(self, text: str) -> str:
        for value in self._ordered:
            if value in text:
                text = text.replace(value, self.masker.mask(value))
        return text
