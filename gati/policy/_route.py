"""A route's policies, declared on the handler or app-wide, parsed once at import.

``auth``: ``required`` (no principal, 401), ``optional`` (a principal if credentials
are presented; bad ones are still 401) or ``none`` (credentials are not looked at).
``roles``: the principal needs at least one of them (403 otherwise). ``rate_limit``:
``"100/minute"`` per principal, ``"10/second per ip"`` or ``"... per tenant"``.
``max_body``: bytes. ``idempotency``: ``required`` (400 without an ``Idempotency-Key``)
or ``optional``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Literal, TypedDict

from limits import RateLimitItem, parse

from gati.errors import AppError

AuthMode = Literal["required", "optional", "none"]
Idempotency = Literal["required", "optional"]
RateKey = Literal["principal", "ip", "tenant"]
_AUTH: tuple[AuthMode, ...] = ("required", "optional", "none")
_IDEMPOTENCY: tuple[Idempotency, ...] = ("required", "optional")
_KEYS: tuple[RateKey, ...] = ("principal", "ip", "tenant")


class PolicyOptions(TypedDict, total=False):
    """The policy keywords of ``@app.handler`` (and of ``AuthConfig.of`` app-wide)."""

    auth: AuthMode
    roles: tuple[str, ...] | list[str] | str
    rate_limit: str
    max_body: int
    idempotency: Idempotency


class PolicyError(AppError):
    """A policy option that cannot be honoured; the app fails at import."""

    code = "policy_error"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``limit`` requests per window, counted per ``key``; ``text`` as declared."""

    text: str
    item: RateLimitItem
    key: RateKey

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        spec, _, per = text.strip().partition(" per ")
        key = per.strip() or "principal"
        if key not in _KEYS:
            raise PolicyError(f"rate_limit {text!r}: counted per principal, ip or tenant, "
                              f"not {key!r}")
        try:
            item = parse(spec)
        except ValueError:
            raise PolicyError(f"rate_limit {text!r} is not like '100/minute' or "
                              "'10/second per ip'") from None
        return cls(text.strip(), item, key)

    @property
    def limit(self) -> int:
        return int(self.item.amount)

    @property
    def window_s(self) -> int:
        return int(self.item.get_expiry())


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    """Every policy of one route; ``None`` fields inherit the app's."""

    auth: AuthMode | None = None
    roles: tuple[str, ...] | None = None
    rate_limit: RateLimit | None = None
    max_body: int | None = None
    timeout_s: float | None = None
    idempotency: Idempotency | None = None

    @classmethod
    def of(cls, *, auth: str | None = None, roles: Any = None, rate_limit: str | None = None,
           max_body: int | None = None, timeout_s: float | None = None,
           idempotency: str | None = None) -> RoutePolicy:
        """The policy the options declare.

        Raises:
            PolicyError: naming the option and what it takes.
        """
        if auth is not None and auth not in _AUTH:
            raise PolicyError(f"auth must be one of {', '.join(_AUTH)}, got {auth!r}")
        if idempotency is not None and idempotency not in _IDEMPOTENCY:
            raise PolicyError(f"idempotency must be required or optional, got {idempotency!r}")
        if isinstance(roles, str):
            roles = (roles,)
        if roles is not None and not all(isinstance(r, str) and r for r in roles):
            raise PolicyError(f"roles must be names, got {roles!r}")
        if max_body is not None and max_body < 0:
            raise PolicyError(f"max_body must not be negative, got {max_body}")
        if timeout_s is not None and timeout_s <= 0:
            raise PolicyError(f"timeout must be positive, got {timeout_s}")
        return cls(auth, None if roles is None else tuple(roles),
                   None if rate_limit is None else RateLimit.parse(rate_limit), max_body,
                   timeout_s, idempotency)

    def over(self, base: RoutePolicy) -> RoutePolicy:
        """This policy with every unset field taken from ``base`` (the app's)."""
        return replace(base, **{f.name: getattr(self, f.name) for f in fields(self)
                                if getattr(self, f.name) is not None})

    @property
    def effective_auth(self) -> AuthMode:
        # A route that names roles needs someone to have them.
        if self.auth is None:
            return "required" if self.roles else "optional"
        return self.auth

    def to_manifest(self) -> dict[str, Any]:
        """The policy as the manifest and the OpenAPI document show it."""
        out: dict[str, Any] = {"auth": self.effective_auth}
        if self.roles:
            out["roles"] = list(self.roles)
        if self.rate_limit is not None:
            out["rate_limit"] = {"limit": self.rate_limit.limit,
                                 "window_s": self.rate_limit.window_s,
                                 "per": self.rate_limit.key, "text": self.rate_limit.text}
        if self.max_body is not None:
            out["max_body"] = self.max_body
        if self.timeout_s is not None:
            out["timeout_s"] = self.timeout_s
        if self.idempotency is not None:
            out["idempotency"] = self.idempotency
        return out
