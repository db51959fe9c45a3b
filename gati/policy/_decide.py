"""The auth decision of one request: a pure function of its route policy and the
gateway's recorded ``AuthOutcome``, so replay decides exactly as the worker did."""

from __future__ import annotations

from dataclasses import dataclass

from gati.policy._principal import AuthOutcome
from gati.policy._route import RoutePolicy


@dataclass(frozen=True, slots=True)
class Denial:
    """401 or 403 with a stable ``code``; ``challenge`` is the WWW-Authenticate value."""

    status: int
    code: str
    message: str
    challenge: str | None = None


def authorize(policy: RoutePolicy, outcome: AuthOutcome | None, realm: str) -> Denial | None:
    """None: the request may run. Otherwise why not (RFC 6750 section 3 challenges).

    Credentials that were presented and refused are a 401 even on an ``optional``
    route: a client that sends a bad token wants to know, not to be served anonymously.
    """
    mode = policy.effective_auth
    if mode == "none":
        return None
    challenge = f'Bearer realm="{realm}"'
    if outcome is not None and outcome.principal is None:
        code = outcome.error or "invalid_token"
        return Denial(401, code, outcome.message or "the credentials were refused",
                      f'{challenge}, error="invalid_token", error_description="{code}"')
    principal = outcome.principal if outcome is not None else None
    if principal is None:
        if mode == "required" or policy.roles:
            return Denial(401, "auth_required", "this route needs credentials: "
                          "'Authorization: Bearer <token>' or 'X-Api-Key: <key>'", challenge)
        return None
    if policy.roles and not set(policy.roles) & set(principal.roles):
        return Denial(403, "insufficient_role", "this route needs one of the roles "
                      f"{', '.join(policy.roles)}",
                      f'{challenge}, error="insufficient_scope"')
    return None


def admit(policy: RoutePolicy, outcome: AuthOutcome | None, *, realm: str, body_size: int,
          idempotency_key: str | None) -> Denial | None:
    """Every refusal a route's policy makes before its hooks run, in the order a client
    fixes them: credentials (401/403), then the body's size (413), then a missing
    ``Idempotency-Key`` (400)."""
    denial = authorize(policy, outcome, realm)
    if denial is not None:
        return denial
    if policy.max_body is not None and body_size > policy.max_body:
        return Denial(413, "body_too_large",
                      f"the request body is over this route's {policy.max_body} bytes")
    if policy.idempotency == "required" and not idempotency_key:
        return Denial(400, "idempotency_key_required",
                      "this route needs an 'Idempotency-Key' header (a unique value per "
                      "operation, sent again unchanged on a retry)")
    return None
