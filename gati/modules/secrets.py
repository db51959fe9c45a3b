"""Secret providers: the environment and a directory of files (Docker/Kubernetes style).

Values are cached for a short TTL so a rotated secret is picked up without a restart,
and neither provider ever logs a value.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from gati.core.context import SecretSource


class _Cached(SecretSource):
    def __init__(self, ttl_s: float, now: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_s
        self._now = now
        self._cache: dict[str, tuple[float, str | None]] = {}

    def lookup(self, name: str) -> str | None:
        hit = self._cache.get(name)
        if hit is not None and self._now() - hit[0] < self._ttl:
            return hit[1]
        value = self._read(name)
        self._cache[name] = (self._now(), value)
        return value

    def _read(self, name: str) -> str | None:
        raise NotImplementedError


class EnvSecrets(_Cached):
    """``gctx.secrets.get("SMTP_PASSWORD")`` reads ``<prefix>SMTP_PASSWORD``."""

    def __init__(self, environ: Mapping[str, str] | None = None, *, prefix: str = "",
                 ttl_s: float = 60.0) -> None:
        super().__init__(ttl_s)
        self._environ = os.environ if environ is None else environ
        self._prefix = prefix

    def _read(self, name: str) -> str | None:
        return self._environ.get(self._prefix + name)


class FileSecrets(_Cached):
    """``<directory>/<name>``, trailing newline removed; names cannot leave the directory."""

    def __init__(self, directory: Path, *, ttl_s: float = 60.0) -> None:
        super().__init__(ttl_s)
        self._dir = directory.resolve()

    def _read(self, name: str) -> str | None:
        path = (self._dir / name).resolve()
        if path.parent != self._dir or not path.is_file():
            return None
        return path.read_text().rstrip("\n")
