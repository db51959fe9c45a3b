"""An app's CORS policy, as the gateway applies it (starlette's CORSMiddleware rules).

A preflight (``OPTIONS`` with ``Access-Control-Request-Method``) is answered by the
gateway itself: it runs no handler, so it needs no worker and is not recorded. Every
other response to an allowed origin gets ``Access-Control-Allow-Origin`` (and
``Vary: Origin``), so browsers can read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

_SAFE = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@dataclass(frozen=True, slots=True)
class CORS:
    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = _SAFE
    allow_headers: tuple[str, ...] = ("authorization", "content-type", "idempotency-key",
                                      "x-api-key", "x-gati-version")
    expose_headers: tuple[str, ...] = ("x-request-id", "retry-after", "ratelimit",
                                       "ratelimit-policy", "idempotent-replayed")
    allow_credentials: bool = False
    max_age_s: int = 600

    @classmethod
    def of(cls, origins: Iterable[str], **options: object) -> CORS:
        return cls(tuple(origins), **options)  # type: ignore[arg-type]

    def allows(self, origin: str) -> bool:
        return "*" in self.allow_origins or origin in self.allow_origins

    def _origin(self, origin: str) -> str:
        # With credentials the origin must be named, never "*" (the Fetch standard).
        return origin if self.allow_credentials or "*" not in self.allow_origins else "*"

    def preflight(self, origin: str, method: str,
                  headers: str) -> tuple[int, list[tuple[str, str]]]:
        """The answer to a preflight: 200 with the grants, or 400 naming nothing."""
        asked = {h.strip().lower() for h in headers.split(",") if h.strip()}
        allowed = {h.lower() for h in self.allow_headers}
        if not self.allows(origin) or method.upper() not in self.allow_methods or \
                not asked <= allowed:
            return 400, [("vary", "Origin")]
        out = [("access-control-allow-origin", self._origin(origin)),
               ("access-control-allow-methods", ", ".join(self.allow_methods)),
               ("access-control-allow-headers", ", ".join(self.allow_headers)),
               ("access-control-max-age", str(self.max_age_s)), ("vary", "Origin")]
        if self.allow_credentials:
            out.append(("access-control-allow-credentials", "true"))
        return 200, out

    def response_headers(self, origin: str) -> list[tuple[str, str]]:
        """What a simple or actual response to ``origin`` adds (nothing if not allowed)."""
        if not self.allows(origin):
            return []
        out = [("access-control-allow-origin", self._origin(origin)), ("vary", "Origin")]
        if self.expose_headers:
            out.append(("access-control-expose-headers", ", ".join(self.expose_headers)))
        if self.allow_credentials:
            out.append(("access-control-allow-credentials", "true"))
        return out
