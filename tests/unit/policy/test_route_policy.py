"""Route policies parse once at import and decide 401/403/413/400 from the principal."""

from __future__ import annotations

import time

import jwt
import pytest

from gati import App, GlobalContext, LocalContext, Request, Response
from gati.errors import AppError
from gati.policy import (
    AuthConfig,
    AuthOutcome,
    JWTConfig,
    PolicyError,
    Principal,
    RoutePolicy,
    TokenRefused,
    admit,
    verify,
)

ADA = AuthOutcome(Principal("ada", "jwt", ("user",)))
ADMIN = AuthOutcome(Principal("root", "api_key", ("admin",)))


async def _h(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    res.json({})


def _admit(policy: RoutePolicy, outcome: AuthOutcome | None, *, size: int = 0,
           key: str | None = None) -> tuple[int, str] | None:
    d = admit(policy, outcome, realm="r", body_size=size, idempotency_key=key)
    return None if d is None else (d.status, d.code)


def test_the_decisions_of_each_auth_mode() -> None:
    required, roles = RoutePolicy.of(auth="required"), RoutePolicy.of(roles=["admin", "ops"])
    refused = AuthOutcome(None, "token_expired", "the token has expired")
    assert _admit(required, None) == (401, "auth_required")
    assert _admit(required, ADA) is None
    assert _admit(roles, None) == (401, "auth_required")  # roles imply auth required
    assert _admit(roles, ADA) == (403, "insufficient_role")
    assert _admit(roles, ADMIN) is None
    assert _admit(RoutePolicy.of(auth="optional"), None) is None
    assert _admit(RoutePolicy.of(auth="optional"), refused) == (401, "token_expired")
    assert _admit(RoutePolicy.of(auth="none"), refused) is None


def test_body_cap_and_required_idempotency_key() -> None:
    policy = RoutePolicy.of(auth="none", max_body=10, idempotency="required")
    assert _admit(policy, None, size=11, key="k") == (413, "body_too_large")
    assert _admit(policy, None, size=10) == (400, "idempotency_key_required")
    assert _admit(policy, None, size=10, key="k") is None


def test_a_challenge_names_the_realm_and_the_error() -> None:
    d = admit(RoutePolicy.of(auth="required"), AuthOutcome(None, "unknown_key", "m"),
              realm="shop", body_size=0, idempotency_key=None)
    assert d is not None and d.challenge == (
        'Bearer realm="shop", error="invalid_token", error_description="unknown_key"')


def test_route_options_fail_at_import_naming_the_route() -> None:
    app = App("p")
    for bad in ({"auth": "maybe"}, {"rate_limit": "lots"}, {"rate_limit": "5/minute per x"},
                {"idempotency": "always"}, {"max_body": -1}):
        with pytest.raises(AppError, match="GET /x"):
            app.get("/x", **bad)(_h)  # type: ignore[arg-type]


def test_route_policy_over_app_policy() -> None:
    app = App("p", auth=AuthConfig.of(auth="required", rate_limit="100/minute"))
    app.get("/open", auth="none", handler_id="open")(_h)
    app.get("/closed", roles="admin", rate_limit="5/second per ip", handler_id="closed")(_h)
    by_path = {s.path: s.policy for s in app.handlers.values()}
    assert by_path["/open"].auth == "none" and by_path["/open"].rate_limit is not None
    closed = by_path["/closed"]
    assert closed.auth == "required" and closed.roles == ("admin",)
    assert closed.rate_limit is not None and closed.rate_limit.key == "ip"
    assert (closed.rate_limit.limit, closed.rate_limit.window_s) == (5, 1)
    assert closed.to_manifest()["rate_limit"] == {"limit": 5, "window_s": 1, "per": "ip",
                                                  "text": "5/second per ip"}


def test_jwt_allow_list_refuses_none_and_algorithm_confusion() -> None:
    with pytest.raises(PolicyError, match="not allowed"):
        JWTConfig(algorithms=("none",))
    config = JWTConfig(algorithms=("HS256",), secret="s" * 32, audience="a")
    claims = {"sub": "ada", "aud": "a", "exp": int(time.time()) + 60}
    assert verify(jwt.encode(claims, "s" * 32, algorithm="HS256"), config, {}).subject == "ada"
    with pytest.raises(TokenRefused) as no_exp:
        verify(jwt.encode({"sub": "ada", "aud": "a"}, "s" * 32, algorithm="HS256"), config, {})
    assert no_exp.value.code == "invalid_token"  # exp is required
    rs_only = JWTConfig(algorithms=("RS256",), public_keys=(("", "not-used"),))
    with pytest.raises(TokenRefused, match="algorithm 'HS256'"):
        verify(jwt.encode(claims, "s" * 32, algorithm="HS256"), rs_only, {})
