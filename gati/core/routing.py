"""Method + path routing with typed path parameters.

Patterns look like ``/users/{id}`` or ``/users/{id:int}``; literal segments win over
parameters, so ``/users/me`` and ``/users/{id}`` can both exist whatever the order of
registration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from gati.errors import AppError, MethodNotAllowed, RoutingError

T = TypeVar("T")

_CONVERTERS = {"str": str, "int": int}


@dataclass(frozen=True, slots=True)
class _Segment:
    literal: str | None
    param: str | None = None
    kind: str = "str"


@dataclass(frozen=True, slots=True)
class Route(Generic[T]):
    method: str
    pattern: str
    target: T
    segments: tuple[_Segment, ...]


@dataclass(frozen=True, slots=True)
class Match(Generic[T]):
    route: Route[T]
    params: dict[str, str | int]


def _parse(pattern: str) -> tuple[_Segment, ...]:
    if not pattern.startswith("/"):
        raise AppError(f"route pattern {pattern!r} must start with '/'")
    segments = []
    seen: set[str] = set()
    for part in _split(pattern):
        if part.startswith("{") and part.endswith("}"):
            name, _, kind = part[1:-1].partition(":")
            kind = kind or "str"
            if not name.isidentifier():
                raise AppError(f"route pattern {pattern!r}: {name!r} is not a parameter name")
            if kind not in _CONVERTERS:
                raise AppError(f"route pattern {pattern!r}: unknown parameter type {kind!r}")
            if name in seen:
                raise AppError(f"route pattern {pattern!r}: parameter {name!r} appears twice")
            seen.add(name)
            segments.append(_Segment(literal=None, param=name, kind=kind))
        elif "{" in part or "}" in part:
            raise AppError(f"route pattern {pattern!r}: malformed segment {part!r}")
        else:
            segments.append(_Segment(literal=part))
    return tuple(segments)


def _split(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


class Router(Generic[T]):
    def __init__(self) -> None:
        self._routes: list[Route[T]] = []

    @property
    def routes(self) -> tuple[Route[T], ...]:
        return tuple(self._routes)

    def add(self, method: str, pattern: str, target: T) -> Route[T]:
        method = method.upper()
        segments = _parse(pattern)
        shape = tuple((s.literal, s.param is not None) for s in segments)
        for existing in self._routes:
            same_shape = tuple((s.literal, s.param is not None) for s in existing.segments)
            if existing.method == method and same_shape == shape:
                raise AppError(
                    f"{method} {pattern} conflicts with {existing.method} {existing.pattern}"
                )
        route = Route(method=method, pattern=pattern, target=target, segments=segments)
        self._routes.append(route)
        # Most literal segments first: /users/me beats /users/{id}.
        self._routes.sort(key=lambda r: tuple(s.literal is None for s in r.segments))
        return route

    def find(self, method: str, pattern: str) -> Route[T] | None:
        """The route registered for exactly this method and pattern, if any."""
        for route in self._routes:
            if route.method == method.upper() and route.pattern == pattern:
                return route
        return None

    def match(self, method: str, path: str) -> Match[T]:
        """The route for ``method`` and ``path``.

        Raises:
            MethodNotAllowed: the path exists but not for this method.
            RoutingError: nothing matches the path.
        """
        parts = _split(path)
        allowed: list[str] = []
        for route in self._routes:
            params = _match_segments(route.segments, parts)
            if params is None:
                continue
            if route.method == method.upper():
                return Match(route=route, params=params)
            allowed.append(route.method)
        if allowed:
            raise MethodNotAllowed(
                f"{method.upper()} is not allowed on {path}", allowed=tuple(sorted(set(allowed)))
            )
        raise RoutingError(f"no route for {method.upper()} {path}")


def _match_segments(
    segments: tuple[_Segment, ...], parts: list[str]
) -> dict[str, str | int] | None:
    if len(segments) != len(parts):
        return None
    params: dict[str, str | int] = {}
    for seg, part in zip(segments, parts, strict=True):
        if seg.literal is not None:
            if seg.literal != part:
                return None
            continue
        assert seg.param is not None
        if seg.kind == "int":
            digits = part[1:] if part.startswith("-") else part
            # isdigit() alone accepts characters such as '²' that int() refuses.
            if not (digits.isascii() and digits.isdigit()):
                return None
            params[seg.param] = int(part)
        else:
            params[seg.param] = part
    return params
