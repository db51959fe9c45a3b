"""Constraint markers for ``Annotated``: ``Annotated[str, MinLen(3), Pattern(r"^\\w+$")]``.

They are plain frozen values so that a type annotation stays hashable and comparable;
the Analyzer reads them into ``GType.constraints``. ``annotated_types`` objects (``Gt``,
``Le``, ``Len``, ...) are accepted too when that package is installed, so types written
for pydantic carry over.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MinLen:
    """At least ``value`` characters (str), octets (bytes) or items (list, set, dict)."""

    value: int


@dataclass(frozen=True, slots=True)
class MaxLen:
    """At most ``value`` characters (str), octets (bytes) or items (list, set, dict)."""

    value: int


@dataclass(frozen=True, slots=True)
class Min:
    """``value <= x`` for integers and numbers."""

    value: int | float


@dataclass(frozen=True, slots=True)
class Max:
    """``x <= value`` for integers and numbers."""

    value: int | float


@dataclass(frozen=True, slots=True)
class ExclusiveMin:
    """``value < x`` for integers and numbers."""

    value: int | float


@dataclass(frozen=True, slots=True)
class ExclusiveMax:
    """``x < value`` for integers and numbers."""

    value: int | float


@dataclass(frozen=True, slots=True)
class MultipleOf:
    """``x % value == 0`` for integers and numbers."""

    value: int | float


@dataclass(frozen=True, slots=True)
class Pattern:
    """The string contains a match of ``regex`` (``re.search``; anchor it if you mean all)."""

    regex: str


@dataclass(frozen=True, slots=True)
class Format:
    """A named string format: email, uuid, date-time, date, time, uri, ipv4, ipv6."""

    name: str


@dataclass(frozen=True, slots=True)
class Description:
    """Documentation for the field; goes to manifests and OpenAPI, not the fingerprint."""

    text: str


@dataclass(frozen=True, slots=True)
class Secret:
    """The value is sensitive: validation issues show ``<redacted>`` instead of it.

    Usable as ``Annotated[str, Secret]`` or ``Annotated[str, Secret()]``.
    """


REDACTED = "<redacted>"
