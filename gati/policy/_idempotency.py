"""Idempotency keys (IETF httpapi draft, Stripe's practice) as pure decisions.

A key is scoped by principal and route, so two callers (or two routes) can never see
each other's responses. The first request with a key claims it; a repeat with the same
body gets the first request's recorded response, one with another body a 422, one
while the first is still running a 409. A first attempt that provably did not run
(refused 503, expired 504) leaves the key free for the next.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum

from gati.policy._principal import Principal

HEADER = "idempotency-key"
REPLAYED_HEADER = "idempotent-replayed"
MAX_KEY_LENGTH = 255
DEFAULT_TTL_S = 24 * 3600
# Codes of recorded answers that mean the request never ran: its key can be claimed again.
NOT_RUN = frozenset({"log_unavailable", "deadline_exceeded"})


def scope_of(principal: Principal | None, method: str, path: str, key: str) -> str:
    """What the key is stored under: a digest, so the table holds no key and no subject."""
    who = [principal.tenant, principal.subject] if principal is not None else [None, None]
    text = json.dumps([*who, method.upper(), path, key], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    digest = hashlib.sha256(f"{method.upper()} {path}?{query}\n".encode())
    digest.update(body)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Claim:
    """Who holds a key: the request whose answer every repeat gets."""

    fingerprint: str
    request_id: str
    expires_at_us: int


@dataclass(frozen=True, slots=True)
class Answer:
    """A recorded response: what a repeat is answered with."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    error_code: str | None = None
    # Whether any attempt got as far as hooks, handler or effects: an expired request
    # that ran in an earlier attempt (its worker died) must not run again.
    ran: bool = True


class Verdict(StrEnum):
    REPLAY = "replay"  # answer with the first request's response
    MISMATCH = "mismatch"  # 422: the key was used with another request
    IN_FLIGHT = "in_flight"  # 409: the first is not answered yet
    TAKE_OVER = "take_over"  # the first expired or never ran: this one claims the key


def judge(claim: Claim, fingerprint: str, now_us: int, answer: Answer | None) -> Verdict:
    """What a request that found ``claim`` on its key gets."""
    if claim.expires_at_us <= now_us:
        return Verdict.TAKE_OVER
    if claim.fingerprint != fingerprint:
        return Verdict.MISMATCH
    if answer is None:
        return Verdict.IN_FLIGHT
    if answer.error_code in NOT_RUN and not answer.ran:
        return Verdict.TAKE_OVER
    return Verdict.REPLAY


def check_key(key: str) -> str | None:
    """Why ``key`` cannot be used (None: it can)."""
    if not key.strip():
        return "the Idempotency-Key header is empty"
    if len(key) > MAX_KEY_LENGTH:
        return f"the Idempotency-Key header is over {MAX_KEY_LENGTH} characters"
    return None
