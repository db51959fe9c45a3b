"""Lifecycle hooks: what runs around a handler, at three levels.

Order (the seed's contract): ``before`` hooks run global, then route, then local, each
level in registration order; ``after``, ``catch`` and ``cleanup`` run in exactly the
reverse order. Local hooks are registered on ``lctx`` while the request runs, so a
global hook can add work for this one request.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from gati.errors import AppError, GatiError


class HookKind(StrEnum):
    BEFORE = "before"
    AFTER = "after"
    CATCH = "catch"
    CLEANUP = "cleanup"


class HookLevel(StrEnum):
    GLOBAL = "global"
    ROUTE = "route"
    LOCAL = "local"


class HookTimeout(GatiError):
    code = "hook_timeout"
    status = 504


@dataclass(frozen=True, slots=True)
class Hook:
    """A hook and how to run it. ``catch`` hooks take ``(err, req, res, lctx, gctx)``."""

    fn: Callable[..., Any]
    hook_id: str
    kind: HookKind = HookKind.BEFORE
    level: HookLevel = HookLevel.GLOBAL
    timeout_s: float | None = None
    retries: int = 0
    is_async: bool = False

    def at(self, kind: HookKind, level: HookLevel) -> Hook:
        return replace(self, kind=kind, level=level)


def hook(
    fn: Callable[..., Any], *, hook_id: str | None = None, timeout_s: float | None = None,
    retries: int = 0,
) -> Hook:
    """Wrap ``fn`` with options; its kind and level are set where it is registered."""
    if not callable(fn):
        raise AppError(f"hook {fn!r} is not callable")
    if timeout_s is not None and timeout_s <= 0:
        raise AppError(f"hook {_name(fn)}: timeout_s must be positive")
    if retries < 0:
        raise AppError(f"hook {_name(fn)}: retries must not be negative")
    return Hook(fn=fn, hook_id=hook_id or _name(fn), timeout_s=timeout_s, retries=retries,
                is_async=is_async_callable(fn))


def is_async_callable(func: Callable[..., Any]) -> bool:
    """True for ``async def`` functions and for objects whose ``__call__`` is one."""
    if inspect.iscoroutinefunction(func):
        return True
    return not inspect.isfunction(func) and inspect.iscoroutinefunction(type(func).__call__)


def as_hook(item: Hook | Callable[..., Any], kind: HookKind, level: HookLevel) -> Hook:
    base = item if isinstance(item, Hook) else hook(item)
    expected = 5 if kind is HookKind.CATCH else 4
    _check_arity(base, expected)
    return base.at(kind, level)


def _check_arity(h: Hook, expected: int) -> None:
    try:
        params = [
            p for p in inspect.signature(h.fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return
    if len(params) != expected:
        shape = "(err, req, res, lctx, gctx)" if expected == 5 else "(req, res, lctx, gctx)"
        raise AppError(f"hook {h.hook_id} takes {len(params)} parameters; it must take {shape}")


def _name(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "hook"
    return f"{module}.{getattr(fn, '__qualname__', type(fn).__name__)}"


@dataclass(slots=True)
class HookSet:
    """Hooks of one level, by kind, in registration order."""

    before: list[Hook]
    after: list[Hook]
    catch: list[Hook]
    cleanup: list[Hook]

    @classmethod
    def empty(cls) -> HookSet:
        return cls([], [], [], [])

    def add(self, h: Hook) -> None:
        getattr(self, h.kind.value).append(h)

    def of_name(self, kind: str) -> list[Hook]:
        return self.of(HookKind(kind))

    def of(self, kind: HookKind) -> list[Hook]:
        list_: list[Hook] = getattr(self, kind.value)
        return list_
