"""Authentication at the gateway: credentials in, ``AuthOutcome`` out.

The gateway looks at credentials so that no worker ever needs them: it verifies a JWT
bearer token or an API key and puts only the principal (or the refusal's code) in the
envelope. Whether the route needs one is the worker's decision, from the record.

JWKS keys are fetched asynchronously at start and cached; a token naming a ``kid`` the
cache lacks triggers one refresh (at most every ``jwks_min_refresh_s``, so a stream of
forged kids cannot make the gateway hammer the key server), never a fetch per request.

A token that verified is remembered (Envoy's JWT cache): a client sends the same token
with every request until it expires, and verifying it again each time was most of the
gateway's auth cost. A remembered verdict lasts until the token's ``exp`` (no leeway)
and at most ``VERIFIED_TTL_S``; a key-set refresh forgets them all, so a key removed
from the JWKS stops being honoured at the next refresh as before. Refusals are not
remembered.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import jwt

from gati.policy import (
    AuthConfig,
    AuthOutcome,
    TokenRefused,
    UnknownKey,
    looks_like_jwt,
    verify_until,
)

log = logging.getLogger(__name__)

# How long a verified token's verdict is kept at most, and how many are kept.
VERIFIED_TTL_S = 60.0
MAX_VERIFIED = 10_000


class Authenticator:
    """Verifies a request's credentials against one app's ``AuthConfig``."""

    def __init__(self, config: AuthConfig, *,
                 monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.config = config
        self._monotonic = monotonic
        self._wall = wall
        # token -> (its outcome, until when it holds: epoch s); oldest first.
        self._verified: dict[str, tuple[AuthOutcome, float]] = {}
        self._keys: dict[str, Any] = dict(config.jwt.public_keys) if config.jwt else {}
        self._digests = config.by_digest
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.refreshes = 0

    @property
    def active(self) -> bool:
        return self.config.jwt is not None or bool(self.config.api_keys)

    async def start(self) -> None:
        """Fetch the JWKS once; a key server that is down only delays JWT auth."""
        if self.config.jwt is not None and self.config.jwt.jwks_url:
            await self._refresh()

    async def authenticate(self, headers: Iterable[tuple[str, str]]) -> AuthOutcome | None:
        """None: no credentials presented (or the app configures no auth)."""
        if not self.active:
            return None
        bearer, api_key = _credentials(headers)
        if bearer is not None and self.config.jwt is not None and looks_like_jwt(bearer):
            return await self._jwt(bearer)
        key = api_key if api_key is not None else bearer
        if key is None:
            return None
        found = self._digests.get("sha256:" + hashlib.sha256(key.encode()).hexdigest())
        if found is None:
            code = "invalid_api_key" if api_key is not None or not self.config.jwt \
                else "invalid_token"
            return AuthOutcome(None, code, "the credentials are not valid")
        return AuthOutcome(found.principal())

    async def _jwt(self, token: str) -> AuthOutcome:
        config = self.config.jwt
        assert config is not None
        now = self._wall()
        known = self._verified.get(token)
        if known is not None and known[1] > now:
            return known[0]
        try:
            try:
                principal, exp = verify_until(token, config, self._keys)
            except UnknownKey:
                await self._refresh_for_unknown_kid()
                # Against the keys now at hand: this refresh's, or another request's.
                principal, exp = verify_until(token, config, self._keys)
        except TokenRefused as exc:
            return AuthOutcome(None, exc.code, str(exc))
        outcome = AuthOutcome(principal)
        self._remember(token, outcome, min(exp, now + VERIFIED_TTL_S))
        return outcome

    def _remember(self, token: str, outcome: AuthOutcome, until: float) -> None:
        self._verified.pop(token, None)
        while len(self._verified) >= MAX_VERIFIED:
            del self._verified[next(iter(self._verified))]  # the oldest
        self._verified[token] = (outcome, until)

    async def _refresh_for_unknown_kid(self) -> None:
        """Refresh the key set, or wait for the refresh in flight; nothing if the last
        one is more recent than ``jwks_min_refresh_s``."""
        assert self.config.jwt is not None
        if not self.config.jwt.jwks_url:
            return
        if self._lock.locked():
            async with self._lock:  # another request is fetching: use its keys
                return
        fetched = self._fetched_at
        if fetched is not None and \
                self._monotonic() - fetched < self.config.jwt.jwks_min_refresh_s:
            return
        await self._refresh()

    async def _refresh(self) -> bool:
        """Fetch the key set (one fetch at a time); False when it could not be read."""
        assert self.config.jwt is not None and self.config.jwt.jwks_url
        url = self.config.jwt.jwks_url
        async with self._lock:
            self._fetched_at = self._monotonic()
            try:
                async with httpx.AsyncClient(timeout=5.0) as client:
                    response = await client.get(url)
                    response.raise_for_status()
                jwks = jwt.PyJWKSet.from_dict(response.json())
            except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
                log.warning("JWKS %s could not be read: %r", url, exc)
                return False
            keys = dict(self.config.jwt.public_keys)
            keys.update({k.key_id or "": k.key for k in jwks.keys})
            self._keys = keys
            self._verified.clear()  # verdicts were made against the old key set
            self.refreshes += 1
            return True


def _credentials(headers: Iterable[tuple[str, str]]) -> tuple[str | None, str | None]:
    """(bearer token, API key) as presented; names are lower-cased already."""
    bearer = api_key = None
    for name, value in headers:
        if name == "authorization" and bearer is None:
            scheme, _, rest = value.strip().partition(" ")
            if scheme.lower() == "bearer" and rest.strip():
                bearer = rest.strip()
        elif name == "x-api-key" and api_key is None and value.strip():
            api_key = value.strip()
    return bearer, api_key
