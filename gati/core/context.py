"""``lctx`` (one request's state) and ``gctx`` (what all requests share).

Minimal for now: per-request key/value state and metadata, the module registry and
read-only config. Hooks, effects recording and deterministic sources build on these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from gati.errors import GatiError


@dataclass(frozen=True, slots=True)
class RequestMeta:
    request_id: str
    method: str
    path: str
    handler_id: str | None
    received_at_us: int
    deadline_at_us: int
    version: str | None = None


class LocalContext:
    """State that lives exactly as long as one request; never shared between requests."""

    __slots__ = ("_state", "meta")

    def __init__(self, meta: RequestMeta) -> None:
        self.meta = meta
        self._state: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self._state.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self._state[key] = value

    def delete(self, key: str) -> None:
        self._state.pop(key, None)

    def clean(self) -> None:
        self._state.clear()

    def keys(self) -> list[str]:
        return list(self._state)


class UnknownModule(GatiError):
    code = "unknown_module"


class ModuleRegistry:
    """``gctx.modules.db``: attribute access to the app's started module instances."""

    __slots__ = ("_modules",)

    def __init__(self, modules: Mapping[str, Any]) -> None:
        self._modules = dict(modules)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._modules[name]
        except KeyError:
            known = ", ".join(sorted(self._modules)) or "none"
            raise UnknownModule(f"no module named {name!r} (registered: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._modules

    def names(self) -> list[str]:
        return sorted(self._modules)


class GlobalContext:
    """Shared by all requests of a worker: modules and read-only config."""

    __slots__ = ("config", "modules")

    def __init__(self, modules: ModuleRegistry, config: Mapping[str, Any]) -> None:
        self.modules = modules
        self.config: Mapping[str, Any] = MappingProxyType(dict(config))
