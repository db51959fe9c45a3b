"""Bearer-token verification with PyJWT: pure computation over keys already at hand.

Fetching keys is the gateway's (``gati.gateway.auth``); this module only says which key
a token needs (``UnknownKey``) so the caller can refresh its key set once and retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt

from gati.errors import GatiError
from gati.policy._auth import JWTConfig
from gati.policy._principal import Principal


class TokenRefused(GatiError):
    """A token that is not valid; ``code`` (token_expired, ...) is recorded."""

    code = "token_refused"
    status = 401

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class UnknownKey(TokenRefused):
    code = "unknown_key"

    def __init__(self, kid: str | None) -> None:
        super().__init__("unknown_key", f"the token is signed with an unknown key ({kid!r})")
        self.kid = kid


def looks_like_jwt(value: str) -> bool:
    return value.count(".") == 2 and len(value) > 10


def verify(token: str, config: JWTConfig, keys: Mapping[str, Any]) -> Principal:
    """The principal a valid ``token`` names (``verify_until`` without its expiry)."""
    return verify_until(token, config, keys)[0]


def verify_until(token: str, config: JWTConfig,
                 keys: Mapping[str, Any]) -> tuple[Principal, float]:
    """The principal a valid ``token`` names, and its ``exp`` (epoch seconds): how long a
    caller may keep the verdict.

    ``keys``: verification keys by kid (``""`` for a key used by tokens without one).

    Raises:
        UnknownKey: the token's kid is not in ``keys`` (refresh them, then retry).
        TokenRefused: anything else wrong with it, with a stable code.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenRefused("invalid_token", "the token is not a JWT") from None
    alg = header.get("alg")
    if alg not in config.algorithms:
        # Also refuses alg "none" and HS256-with-a-public-key confusion.
        raise TokenRefused("invalid_token", f"the token's algorithm {alg!r} is not accepted")
    key = _key(header, alg, config, keys)
    options: Any = {"require": ["exp"], "verify_aud": config.audience is not None}
    try:
        claims = jwt.decode(token, key, algorithms=[alg], audience=config.audience,
                            issuer=config.issuer, leeway=config.leeway_s, options=options)
    except jwt.ExpiredSignatureError:
        raise TokenRefused("token_expired", "the token has expired") from None
    except jwt.InvalidAudienceError:
        raise TokenRefused("invalid_audience", "the token is for another audience") from None
    except jwt.InvalidIssuerError:
        raise TokenRefused("invalid_issuer", "the token is from another issuer") from None
    except jwt.ImmatureSignatureError:
        raise TokenRefused("token_not_yet_valid", "the token is not valid yet") from None
    except jwt.PyJWTError as exc:
        raise TokenRefused("invalid_token", f"the token is not valid: {type(exc).__name__}"
                           ) from None
    return _principal(claims, config), float(claims["exp"])


def _key(header: Mapping[str, Any], alg: str, config: JWTConfig,
         keys: Mapping[str, Any]) -> Any:
    if alg.startswith("HS"):
        assert config.secret is not None  # JWTConfig requires it for HS algorithms
        return config.secret
    kid = header.get("kid")
    key = keys.get(kid if isinstance(kid, str) else "")
    if key is None:
        raise UnknownKey(kid if isinstance(kid, str) else None)
    return key


def _principal(claims: Mapping[str, Any], config: JWTConfig) -> Principal:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise TokenRefused("invalid_token", "the token names no subject (sub)")
    return Principal(sub, "jwt", _names(claims.get(config.roles_claim)),
                     _names(claims.get(config.scopes_claim)),
                     _text(claims.get(config.tenant_claim)))


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split())  # OAuth's space-separated "scope"
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return ()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
