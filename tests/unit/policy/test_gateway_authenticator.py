"""The gateway's Authenticator against a JWKS server on loopback: a new kid is fetched
once however many requests name it at the same time; API keys match by digest."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from gati.gateway.auth import Authenticator
from gati.policy import ApiKey, AuthConfig, JWTConfig, hash_api_key

pytestmark = pytest.mark.timeout(60)


class Jwks:
    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.private: dict[str, Any] = {}
        self.fetches = 0

    def add(self, kid: str) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private[kid] = key
        self.keys.append({**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid})

    def token(self, kid: str) -> str:
        return jwt.encode({"sub": "ada", "aud": "t", "exp": int(time.time()) + 60,
                           "roles": ["admin"]}, self.private[kid], algorithm="RS256",
                          headers={"kid": kid})


@pytest.fixture
def jwks() -> Iterator[tuple[Jwks, str]]:
    state = Jwks()
    state.add("k1")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.fetches += 1
            time.sleep(0.2)  # a slow key server: concurrent requests overlap its fetch
            body = json.dumps({"keys": state.keys}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/jwks"
    server.shutdown()


async def test_a_new_kid_is_fetched_once_for_many_concurrent_requests(
    jwks: tuple[Jwks, str]
) -> None:
    state, url = jwks
    def authenticator(min_refresh_s: float) -> Authenticator:
        return Authenticator(AuthConfig.of(jwt=JWTConfig(
            algorithms=("RS256",), audience="t", jwks_url=url,
            jwks_min_refresh_s=min_refresh_s)))

    auth = authenticator(0)
    await auth.start()
    assert state.fetches == 1
    state.add("k2")
    token = state.token("k2")
    outcomes = await asyncio.gather(*[
        auth.authenticate([("authorization", f"Bearer {token}")]) for _ in range(10)])
    assert all(o is not None and o.principal is not None for o in outcomes), outcomes
    assert state.fetches == 2
    # A forged kid within jwks_min_refresh_s of the last fetch fetches nothing.
    guarded = authenticator(60)
    await guarded.start()
    forged = jwt.encode({"sub": "x", "aud": "t", "exp": int(time.time()) + 60},
                        state.private["k1"], algorithm="RS256", headers={"kid": "nope"})
    for _ in range(5):
        refused = await guarded.authenticate([("authorization", f"Bearer {forged}")])
        assert refused is not None and refused.error == "unknown_key"
    assert state.fetches == 3  # guarded's start only


async def test_api_keys_old_and_new_both_valid_during_a_rotation() -> None:
    auth = Authenticator(AuthConfig.of(api_keys=[
        ApiKey(hash_api_key("old-key-1234"), "svc"), ApiKey(hash_api_key("new-key-5678"), "svc")]))
    for key in ("old-key-1234", "new-key-5678"):
        got = await auth.authenticate([("x-api-key", key)])
        assert got is not None and got.principal is not None and got.principal.subject == "svc"
    bad = await auth.authenticate([("x-api-key", "other")])
    assert bad is not None and bad.error == "invalid_api_key"
    assert await auth.authenticate([("accept", "*/*")]) is None
