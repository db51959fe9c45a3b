"""The pure halves of idempotency keys and CORS."""

from __future__ import annotations

from gati.policy import CORS, Answer, Claim, Principal, Verdict, judge, scope_of
from gati.policy._idempotency import check_key, fingerprint

CLAIM = Claim("fp", "r-first", expires_at_us=1_000)
DONE = Answer(201, (("content-type", "application/json"),), b"{}", None, ran=True)


def test_what_a_repeat_gets() -> None:
    assert judge(CLAIM, "fp", 500, DONE) is Verdict.REPLAY
    assert judge(CLAIM, "other", 500, DONE) is Verdict.MISMATCH
    assert judge(CLAIM, "fp", 500, None) is Verdict.IN_FLIGHT
    assert judge(CLAIM, "fp", 1_000, DONE) is Verdict.TAKE_OVER  # expired
    never_ran = Answer(503, (), b"", "log_unavailable", ran=False)
    assert judge(CLAIM, "fp", 500, never_ran) is Verdict.TAKE_OVER
    expired_after_running = Answer(504, (), b"", "deadline_exceeded", ran=True)
    assert judge(CLAIM, "fp", 500, expired_after_running) is Verdict.REPLAY


def test_keys_are_scoped_by_principal_and_route_and_stored_as_digests() -> None:
    ada, bob = Principal("ada", "jwt"), Principal("bob", "jwt")
    one = scope_of(ada, "POST", "/users", "k1")
    assert one != scope_of(bob, "POST", "/users", "k1")
    assert one != scope_of(ada, "POST", "/orders", "k1")
    assert one != scope_of(None, "POST", "/users", "k1")
    assert one == scope_of(ada, "post", "/users", "k1") and "k1" not in one
    assert fingerprint("POST", "/u", "", b"a") != fingerprint("POST", "/u", "", b"b")
    assert check_key("") is not None and check_key("x" * 256) is not None
    assert check_key("8e03978e-40d5-43e8-bc93-6894a57f9324") is None


def test_cors_grants_named_origins_only() -> None:
    cors = CORS.of(["https://a.test"], allow_credentials=True)
    status, grants = cors.preflight("https://a.test", "PUT", "Content-Type")
    assert status == 200 and ("access-control-allow-origin", "https://a.test") in grants
    assert ("access-control-allow-credentials", "true") in grants
    assert cors.preflight("https://b.test", "PUT", "")[0] == 400
    assert cors.preflight("https://a.test", "PUT", "x-unknown")[0] == 400
    assert cors.response_headers("https://b.test") == []
    anyone = CORS.of(["*"])
    assert ("access-control-allow-origin", "*") in anyone.response_headers("https://z.test")
