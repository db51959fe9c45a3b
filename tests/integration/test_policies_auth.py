"""Auth at the gateway, decided by route policy, recorded and replayed (issue 18).

On both backends, through HTTP: 401 / 403 / 200 for no token, a token without the role
and one with it; expired, unknown-key, ``alg: none`` and wrong-audience tokens are each
refused; a JWKS rotation is followed without a restart, against a JWKS server this test
runs; API keys are matched by digest. The record holds the principal, never a token,
and every request replays to the same decision.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from support import System, eventually, start_system
from test_handler_model import _scan_database, _timeline

from gati.policy import hash_api_key
from gati.replay import Replayer
from gati.store import Store, open_store

pytestmark = pytest.mark.timeout(300)
APP = "tests/apps/policies_app.py:app"
ISSUER, AUDIENCE = "https://issuer.gati.test", "gati-tests"
HS_SECRET = f"hs-{uuid.uuid4().hex}"
API_KEY = f"key-{uuid.uuid4().hex}"


class Keys:
    """Signing keys by kid, and the JWKS document a real HTTP server publishes."""

    def __init__(self) -> None:
        self.private: dict[str, Any] = {}
        self.published: list[dict[str, Any]] = []
        self.fetches = 0

    def add_rsa(self, kid: str, *, publish: bool = True) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private[kid] = key
        if publish:
            jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            self.published.append({**jwk, "kid": kid, "alg": "RS256", "use": "sig"})

    def add_ec(self, kid: str) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        self.private[kid] = key
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        self.published.append({**jwk, "kid": kid, "alg": "ES256", "use": "sig"})

    def token(self, kid: str, *, alg: str = "RS256", **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ada", "iat": now, "exp": now + 300,
                **claims}
        return jwt.encode(body, self.private[kid], algorithm=alg, headers={"kid": kid})


@pytest.fixture(scope="module")
def keys() -> Iterator[tuple[Keys, str]]:
    keys = Keys()
    keys.add_rsa("rsa-1")
    keys.add_ec("ec-1")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            keys.fetches += 1
            body = json.dumps({"keys": keys.published}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield keys, f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()


@pytest.fixture(scope="module", params=["embedded", "kafka"])
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           keys: tuple[Keys, str]) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp(f"policies-{request.param}")
    s = start_system(
        request.param, tmp, request, app=APP,
        POLICIES_JWKS_URL=keys[1], POLICIES_HS_SECRET=HS_SECRET,
        POLICIES_JWKS_MIN_REFRESH_S="0",
        POLICIES_API_KEYS=f"{hash_api_key(API_KEY)}=svc-reports:reports",
        GATI_SENSITIVE_HEADERS="x-vendor-token", GATI_SENSITIVE_FIELDS="password",
    )
    yield s
    s.stop()  # replays every recorded request; a divergence fails the module


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _none_alg_token() -> str:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(time.time())
    return b64({"alg": "none", "typ": "JWT"}) + "." + b64(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": now + 300,
         "roles": ["admin"]}) + "."


async def test_no_token_a_token_without_the_role_and_one_with_it(
    system: System, keys: tuple[Keys, str]
) -> None:
    k, _ = keys
    async with system.client() as client:
        anonymous = await client.get("/admin")
        member = await client.get("/admin", headers=_bearer(k.token("rsa-1", roles=["user"])))
        admin = await client.get("/admin", headers=_bearer(k.token("ec-1", alg="ES256",
                                                                  roles=["admin"])))
        hs = await client.get("/me", headers=_bearer(jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "sub": "hal", "exp": int(time.time()) + 60,
             "tenant": "acme"}, HS_SECRET, algorithm="HS256")))
        public = await client.get("/public", headers=_bearer("garbage.not.jwt"))
        optional = await client.get("/maybe")
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.json()["error"]["code"] == "auth_required"
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="policies"'
    assert member.status_code == 403, member.text
    assert member.json()["error"]["code"] == "insufficient_role"
    assert admin.status_code == 200 and admin.json() == {"admin": "ada"}, admin.text
    assert hs.status_code == 200 and hs.json() == {
        "subject": "hal", "method": "jwt", "roles": [], "tenant": "acme"}, hs.text
    assert public.status_code == 200 and optional.json() == {"subject": None}


@pytest.mark.parametrize(("case", "code"), [
    ("expired", "token_expired"), ("unknown_key", "unknown_key"),
    ("alg_none", "invalid_token"), ("other_audience", "invalid_audience"),
    ("bad_signature", "invalid_token"),
])
async def test_bad_tokens_are_each_refused_with_their_code(
    system: System, keys: tuple[Keys, str], case: str, code: str
) -> None:
    k, _ = keys
    if "stranger" not in k.private:
        k.add_rsa("stranger", publish=False)
    token = {
        "expired": lambda: k.token("rsa-1", roles=["admin"], exp=int(time.time()) - 3600),
        "unknown_key": lambda: k.token("stranger", roles=["admin"]),
        "alg_none": _none_alg_token,
        "other_audience": lambda: k.token("rsa-1", roles=["admin"], aud="someone-else"),
        "bad_signature": lambda: k.token("rsa-1", roles=["admin"])[:-6] + "AAAAAA",
    }[case]()
    async with system.client() as client:
        response = await client.get("/admin", headers=_bearer(token))
        optional = await client.get("/maybe", headers=_bearer(token))
    for r in (response, optional):  # presented and refused: 401 even where optional
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == code
        assert 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_a_jwks_rotation_is_followed_without_a_restart(
    system: System, keys: tuple[Keys, str]
) -> None:
    k, _ = keys
    kid = f"rsa-{uuid.uuid4().hex[:6]}"
    k.add_rsa(kid)  # published now, after the gateway cached the set
    before = k.fetches
    async with system.client() as client:
        first = await client.get("/me", headers=_bearer(k.token(kid)))
        again = [await client.get("/me", headers=_bearer(k.token(kid))) for _ in range(5)]
    assert first.status_code == 200, first.text
    assert all(r.status_code == 200 for r in again)
    # One fetch for the unknown kid, none for the requests after it.
    assert k.fetches - before == 1


async def test_api_keys_by_digest_and_the_record_keeps_the_principal_not_the_key(
    system: System, keys: tuple[Keys, str]
) -> None:
    k, _ = keys
    token = k.token("rsa-1", roles=["admin"], sub=f"sub-{uuid.uuid4().hex[:6]}")
    async with system.client() as client:
        by_key = await client.get("/me", headers={"x-api-key": API_KEY})
        as_bearer = await client.get("/me", headers=_bearer(API_KEY))
        wrong = await client.get("/me", headers={"x-api-key": "not-the-key"})
        refused = await client.get("/me", headers=_bearer(token[:-4] + "AAAA"))
        ok = await client.get("/me", headers=_bearer(token))
    assert by_key.json() == {"subject": "svc-reports", "method": "api_key",
                             "roles": ["reports"], "tenant": None}, by_key.text
    assert as_bearer.json()["subject"] == "svc-reports"
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"

    store = await open_store(system.database_url)
    try:
        steps = dict(await _timeline(store, ok.headers["x-request-id"]))
        assert steps["authenticated"] == {"principal": {
            "subject": json.loads(ok.text)["subject"], "method": "jwt", "roles": ["admin"],
            "scopes": [], "tenant": None}}
        # The row says who called and which log message it was recorded from, in SQL.
        row = await _provenance(store, ok.headers["x-request-id"])
        assert row["principal"] == json.loads(ok.text)["subject"]
        assert row["log_topic"].endswith("requests") and row["log_offset"] >= 0
        assert (await _provenance(store, refused.headers["x-request-id"]))["principal"] is None
        denied = await _timeline(store, refused.headers["x-request-id"])
        assert ("failed", "invalid_token") in [
            (s, d.get("code", "invalid_token")) for s, d in denied if s == "failed"]
        for secret in (API_KEY, token.split(".")[2], HS_SECRET):
            assert await _scan_database(store, secret) == []
        replayer = Replayer(app=_app(), engine=store.engine)
        for r in (by_key, wrong, refused, ok):
            result = await replayer.replay(r.headers["x-request-id"])
            assert result.identical, result.divergence
    finally:
        await store.close()


async def _provenance(store: Store, request_id: str) -> dict[str, Any]:
    query = sa.text("SELECT principal, log_topic, log_partition, log_offset FROM requests"
                    " WHERE request_id = :id AND log_topic IS NOT NULL")

    async def recorded() -> dict[str, Any] | None:
        async with store.engine.connect() as conn:
            row = (await conn.execute(query, {"id": request_id})).mappings().first()
        return None if row is None else dict(row)

    return await eventually(recorded, within=30, what=f"{request_id}'s request row")


async def test_cors_preflights_are_answered_and_responses_granted_per_app(
    system: System
) -> None:
    app_origin, other = "https://app.gati.test", "https://evil.test"
    preflight = {"access-control-request-method": "POST",
                 "access-control-request-headers": "content-type, idempotency-key"}
    async with system.client() as client:
        ok = await client.options("/accounts", headers={"origin": app_origin, **preflight})
        refused = await client.options("/accounts", headers={"origin": other, **preflight})
        simple = await client.get("/public", headers={"origin": app_origin})
        foreign = await client.get("/public", headers={"origin": other})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == app_origin
    assert "POST" in ok.headers["access-control-allow-methods"]
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
    assert simple.status_code == 200
    assert simple.headers["access-control-allow-origin"] == app_origin
    assert "x-request-id" in simple.headers["access-control-expose-headers"]
    assert foreign.status_code == 200 and "access-control-allow-origin" not in foreign.headers


def _app():  # type: ignore[no-untyped-def]
    from gati.cli.loader import load_app

    return load_app(APP)
