"""Route policies: who may call what, how often, and safely twice.

Pure: the gateway and the worker are the adapters. ``RoutePolicy`` is what a route
declares; ``AuthConfig`` how an app authenticates; ``Principal`` / ``AuthOutcome``
what the gateway established, carried in the envelope and recorded; ``authorize`` the
decision the worker makes (and replay makes again).
"""

from gati.policy._auth import ApiKey, AuthConfig, JWTConfig, hash_api_key
from gati.policy._cors import CORS
from gati.policy._decide import Denial, admit, authorize
from gati.policy._idempotency import Answer, Claim, Verdict, judge, scope_of
from gati.policy._jwt import TokenRefused, UnknownKey, looks_like_jwt, verify, verify_until
from gati.policy._principal import AuthOutcome, Principal
from gati.policy._route import PolicyError, PolicyOptions, RateLimit, RoutePolicy

__all__ = [
    "CORS",
    "Answer",
    "ApiKey",
    "AuthConfig",
    "AuthOutcome",
    "Claim",
    "Denial",
    "JWTConfig",
    "PolicyError",
    "PolicyOptions",
    "Principal",
    "RateLimit",
    "RoutePolicy",
    "TokenRefused",
    "UnknownKey",
    "Verdict",
    "admit",
    "authorize",
    "hash_api_key",
    "judge",
    "looks_like_jwt",
    "scope_of",
    "verify",
    "verify_until",
]
