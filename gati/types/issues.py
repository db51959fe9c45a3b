"""Validation issues, and the helpers generated validators call when something fails.

Kept apart from the code generator: these run per request (only on failure, except
``best_of``), the generator runs once per type.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gati.types.markers import REDACTED

_SHOW_LIMIT = 80
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Issue:
    """One failing field: where, what was expected, what was there, and a stable code.

    ``actual`` is a truncated ``repr`` of the value, ``<missing>`` for an absent field,
    or ``<redacted>`` inside a field marked ``Secret``.
    """

    path: str
    expected: str
    actual: str
    code: str

    def __str__(self) -> str:
        return f"{self.path}: expected {self.expected}, got {self.actual}"

    def to_json(self) -> dict[str, str]:
        return {
            "path": self.path,
            "expected": self.expected,
            "actual": self.actual,
            "code": self.code,
        }


def show(value: Any) -> str:
    """``repr(value)`` cut to about 80 characters, for diagnostics."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the validation issue
        text = f"<{type(value).__name__}>"
    return text if len(text) <= _SHOW_LIMIT else text[: _SHOW_LIMIT - 1] + "…"


def key_segment(key: Any) -> str:
    """The path segment of an object key or map key: ``.name`` or ``["odd key"]``."""
    if isinstance(key, str) and _IDENT.fullmatch(key):
        return f".{key}"
    return f"[{show(key)}]"


def fail(issues: list[Issue], path: str, expected: str, value: Any, code: str, red: bool) -> None:
    issues.append(Issue(path, expected, REDACTED if red else show(value), code))


def missing(issues: list[Issue], path: str, expected: str) -> None:
    issues.append(Issue(path, expected, "<missing>", "missing"))


def best_of(
    value: Any, path: str, checks: Sequence[Callable[[Any, str, list[Issue]], None]]
) -> list[Issue]:
    """Union of several same-JSON-type variants: [] if one fits, else the closest miss."""
    best: list[Issue] | None = None
    for check in checks:
        found: list[Issue] = []
        check(value, path, found)
        if not found:
            return found
        if best is None or len(found) < len(best):
            best = found
    return best or []
