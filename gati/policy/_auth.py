"""How an app authenticates its callers: JWT bearer tokens and API keys.

Configuration only, declared with the app (``App(..., auth=AuthConfig(...))``) and used
by every gateway that serves it. API keys are kept as SHA-256 digests, never as the
keys: a leaked manifest or config dump reveals no key, and rotating one is adding the
new key's digest next to the old one, moving clients over, then removing the old.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Unpack

from gati.policy._cors import CORS
from gati.policy._principal import Principal
from gati.policy._route import PolicyError, PolicyOptions, RoutePolicy

SAFE_ALGORITHMS = frozenset({"HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
                             "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"})


def hash_api_key(key: str) -> str:
    """The digest an ``ApiKey`` is configured with: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One valid key, by digest (``hash_api_key``), and the principal it stands for."""

    digest: str
    subject: str
    roles: tuple[str, ...] = ()
    tenant: str | None = None

    def principal(self) -> Principal:
        return Principal(self.subject, "api_key", self.roles, (), self.tenant)


@dataclass(frozen=True, slots=True)
class JWTConfig:
    """Which bearer tokens are valid.

    Keys come from ``jwks_url`` (fetched by the gateway, cached, refreshed when a token
    names an unknown ``kid``), from ``public_keys`` (PEM, by kid or ``""``), or for the
    HMAC algorithms from ``secret``. ``algorithms`` is an allow-list: ``none`` can never
    be on it. ``leeway_s`` is the clock skew tolerated on ``exp``/``nbf``/``iat``.
    """

    algorithms: tuple[str, ...] = ("RS256", "ES256")
    issuer: str | None = None
    audience: str | None = None
    jwks_url: str | None = None
    public_keys: tuple[tuple[str, str], ...] = ()
    secret: str | None = field(default=None, repr=False)
    leeway_s: float = 30.0
    roles_claim: str = "roles"
    scopes_claim: str = "scope"
    tenant_claim: str = "tenant"
    jwks_min_refresh_s: float = 10.0

    def __post_init__(self) -> None:
        bad = [a for a in self.algorithms if a not in SAFE_ALGORITHMS]
        if bad or not self.algorithms:
            raise PolicyError(f"JWT algorithms {bad or 'none'} are not allowed "
                             f"(one of {', '.join(sorted(SAFE_ALGORITHMS))})")
        hmac_algs = [a for a in self.algorithms if a.startswith("HS")]
        if hmac_algs and not self.secret:
            raise PolicyError(f"JWT algorithms {hmac_algs} need a secret")
        if len(hmac_algs) != len(self.algorithms) and not (self.jwks_url or self.public_keys):
            raise PolicyError("JWT public-key algorithms need jwks_url or public_keys")


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """An app's authentication, and its default route policy (``policy``)."""

    jwt: JWTConfig | None = None
    api_keys: tuple[ApiKey, ...] = ()
    realm: str = "gati"
    policy: RoutePolicy = field(default_factory=RoutePolicy)
    # Which browser origins may call the app; None: no CORS headers at all.
    cors: CORS | None = None

    @classmethod
    def of(cls, *, jwt: JWTConfig | None = None, api_keys: Iterable[ApiKey] = (),
           realm: str = "gati", cors: CORS | None = None,
           **policy: Unpack[PolicyOptions]) -> AuthConfig:
        """``policy`` options as on a route (``auth=``, ``roles=``, ``rate_limit=``...)."""
        return cls(jwt, tuple(api_keys), realm, RoutePolicy.of(**policy), cors)

    @property
    def by_digest(self) -> dict[str, ApiKey]:
        return {k.digest: k for k in self.api_keys}
