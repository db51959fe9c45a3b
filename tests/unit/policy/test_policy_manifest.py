"""Policies appear in the manifest (and read back) and in the generated OpenAPI."""

from __future__ import annotations

from gati.cli.loader import load_app
from gati.codegen.openapi import openapi_document
from gati.manifest import AppManifest, build_manifest


def _policies() -> AppManifest:
    app = load_app("tests/apps/policies_app.py:app")
    app.post("/orders", roles=["buyer"], rate_limit="10/minute per tenant",
             idempotency="required", max_body=4096, handler_id="orders")(
        app.handlers[next(h for h in app.handlers if h.endswith(".public"))].func)
    return build_manifest(app)


def test_the_manifest_shows_each_routes_policies_and_reads_them_back() -> None:
    manifest = _policies()
    by_path = {h.path: h.policy for h in manifest.handlers}
    assert by_path["/public"].auth == "none" and by_path["/me"].auth == "required"
    assert by_path["/admin"].roles == ("admin",) and by_path["/admin"].auth == "required"
    orders = by_path["/orders"]
    assert (orders.idempotency, orders.max_body) == ("required", 4096)
    assert orders.rate_limit is not None
    assert (orders.rate_limit.limit, orders.rate_limit.window_s, orders.rate_limit.per) == (
        10, 60, "tenant")
    assert AppManifest.from_json(manifest.to_json()) == manifest


def test_openapi_has_security_schemes_and_the_policy_refusals() -> None:
    doc = openapi_document(_policies())
    assert set(doc["components"]["securitySchemes"]) == {"bearerAuth", "apiKey"}
    me, public = doc["paths"]["/me"]["get"], doc["paths"]["/public"]["get"]
    assert me["security"] == [{"bearerAuth": []}, {"apiKey": []}]
    assert "WWW-Authenticate" in me["responses"]["401"]["headers"]
    assert public["security"] == [] and "401" not in public["responses"]
    assert doc["paths"]["/maybe"]["get"]["security"][-1] == {}  # anonymous allowed
    orders = doc["paths"]["/orders"]["post"]
    assert {"401", "403", "409", "422", "429"} <= set(orders["responses"])
    assert {"Retry-After", "RateLimit", "RateLimit-Policy"} <= set(
        orders["responses"]["429"]["headers"])
    key = next(p for p in orders["parameters"] if p.get("name") == "Idempotency-Key")
    assert key["required"] is True


def test_an_app_that_authenticates_nobody_documents_no_security() -> None:
    doc = openapi_document(build_manifest(load_app("examples.users.app:app")))
    for item in doc["paths"].values():
        for op in item.values():
            assert op["security"] == []
