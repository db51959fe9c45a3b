"""Manifests are generated from code: every field, for a rich app and the examples."""

from __future__ import annotations

import json
from typing import Any

import pytest
from manifest_apps import build

from gati import App, GlobalContext, LocalContext, Request, Response
from gati.errors import AppError, CodecError
from gati.manifest import (
    FORMAT,
    AppManifest,
    HandlerManifest,
    build_manifest,
    contract_fingerprint,
)
from gati.types import GType

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def manifest() -> AppManifest:
    return build_manifest(build())


def _handler(m: AppManifest, suffix: str, version: str = "initial") -> HandlerManifest:
    return next(h for h in m.handlers if h.handler_id.endswith(suffix) and h.version == version)


def test_every_handler_version_is_described(manifest: AppManifest) -> None:
    doc = manifest.to_json()
    assert doc["format"] == FORMAT and doc["app"] == "accounts"
    versions = [(h.name, h.version, h.tags) for h in manifest.handlers]
    assert versions == [
        ("put_account", "2024-01-01", ("v1",)),
        ("put_account", "2025-06-01", ("v2", "stable")),
        ("get_account", "initial", ()),
        ("old", "initial", ()),
        ("count", "initial", ()),
    ]
    v1 = _handler(manifest, "put_account", "2024-01-01")
    assert (v1.method, v1.path, v1.tsv) == ("POST", "/accounts/{account_id:int}",
                                            "2024-01-01T00:00:00+00:00")
    assert v1.tsv_us == 1_704_067_200_000_000
    assert [(p.name, p.type) for p in v1.path_params] == [("account_id", "int")]
    assert v1.summary == "Create or replace an account."
    assert v1.policy.timeout_s == 3.0
    assert _handler(manifest, "get_account").tsv is None


def test_types_are_referenced_by_fingerprint(manifest: AppManifest) -> None:
    v1 = _handler(manifest, "put_account", "2024-01-01")
    assert v1.request is not None and v1.request.name == "Account"
    gtype = manifest.gtype(v1.request)
    assert gtype.fingerprint() == v1.request.fingerprint
    assert set(gtype.properties) == {"name", "email", "role", "address", "tags"}
    # The types section is the GType JSON, keyed by fingerprint.
    doc = manifest.to_json()
    assert GType.from_json(doc["types"][v1.request.fingerprint]) == gtype
    assert _handler(manifest, "get_account").request is None


def test_hooks_include_global_ones_in_run_order(manifest: AppManifest) -> None:
    v1 = _handler(manifest, "put_account", "2024-01-01")
    hooks = [(h.hook_id.rsplit(".", 1)[-1], h.kind, h.level, h.timeout_s, h.retries)
             for h in v1.hooks]
    assert hooks == [("trace", "before", "global", 0.5, 2), ("guard", "before", "route", 1.0, 0)]
    v2 = _handler(manifest, "put_account", "2025-06-01")
    assert [h.level for h in v2.hooks] == ["global"]


def test_the_timescape_fingerprint_hashes_the_contract(manifest: AppManifest) -> None:
    v1 = _handler(manifest, "put_account", "2024-01-01")
    expected = contract_fingerprint(v1.method, v1.path, v1.request, v1.response,
                                    [h.hook_id for h in v1.hooks])
    assert v1.fingerprint == expected and len(expected) == 64
    v2 = _handler(manifest, "put_account", "2025-06-01")
    assert v2.fingerprint != v1.fingerprint


def test_module_dependencies_come_from_the_source(manifest: AppManifest) -> None:
    v1 = _handler(manifest, "put_account", "2024-01-01")
    uses = {(c.module, c.method, c.called, c.positional, c.keywords, c.site.rsplit(".", 1)[-1])
            for c in v1.modules}
    assert uses == {
        ("store", "put", True, 2, ("upsert",), "handler"),  # through an alias
        ("store", "forget", False, 1, (), "handler"),  # lctx.compensate(fn, arg, name=)
        ("audit", "record", True, 1, ("path",), "trace"),  # the global hook
    }
    # gctx named g, a registry alias, gctx.modules.get("store"), and a callable object.
    v2 = _handler(manifest, "put_account", "2025-06-01")
    assert ("store", "put") in {(c.module, c.method) for c in v2.modules}
    get = _handler(manifest, "get_account")
    assert ("store", "fetch") in {(c.module, c.method) for c in get.modules}
    count = _handler(manifest, ".count")
    assert count.source.analyzed
    assert ("store", "count") in {(c.module, c.method) for c in count.modules}
    assert all(c.line is not None and c.line > 0 for c in v1.modules)
    # A same-module helper handed gctx (as another name) is followed.
    old = _handler(manifest, ".old")
    helper_calls = [c for c in old.modules if c.site == "handler"]
    assert [(c.module, c.method, c.positional) for c in helper_calls] == [("audit", "record", 1)]


def test_statuses_errors_and_query_params(manifest: AppManifest) -> None:
    v1 = _handler(manifest, "put_account", "2024-01-01")
    assert v1.statuses == (201, 204)
    errors = {(e.status, e.code) for e in v1.errors}
    assert errors == {(403, "forbidden"), (422, "bad_id")}  # hook + helper function
    assert v1.query_params == ("dry",)
    get = _handler(manifest, "get_account")
    assert {(e.status, e.code) for e in get.errors} == {(404, "account_not_found")}
    assert get.query_params == ("fields",) and get.statuses == (200,)
    assert _handler(manifest, "old").statuses == (308,)


def test_modules_methods_capabilities_and_policies(manifest: AppManifest) -> None:
    store = manifest.module("store")
    assert store is not None
    assert (store.runtime, store.analyzed, store.factory) == ("python", True,
                                                             "manifest_apps.Store")
    assert store.capabilities == ("accounts.read", "accounts.write")
    assert store.egress == ("db.internal:5432",)
    assert (store.policy.timeout_s, store.policy.retries) == (2.0, 1)
    assert store.policy.retry_on == ("builtins.TimeoutError", "builtins.ConnectionError")
    assert [m.name for m in store.methods] == ["count", "fetch", "forget", "put"]  # no start
    put = store.method("put")
    assert put is not None and put.is_async
    assert [(p.name, p.kind, p.required, p.annotation) for p in put.params] == [
        ("account_id", "positional_or_keyword", True, "int"),
        ("data", "positional_or_keyword", True, "dict[str, Any]"),
        ("upsert", "keyword_only", False, "bool"),
    ]
    assert manifest.gtype(put.params[0].type).kind == "integer"
    assert manifest.gtype(put.returns).kind == "boolean"
    forget = store.method("forget")
    assert forget is not None and forget.params[0].annotation is None
    assert manifest.gtype(forget.params[0].type).kind == "any"
    count = store.method("count")
    assert count is not None and not count.is_async
    # A factory function: its return annotation names the class; without one, unknown.
    audit = manifest.module("audit")
    assert audit is not None and audit.analyzed and audit.factory == "manifest_apps.Audit"
    assert (audit.capabilities, audit.egress) == ((), ())
    opaque = manifest.module("opaque")
    assert opaque is not None and not opaque.analyzed and opaque.methods == ()


def test_json_round_trip_and_determinism(manifest: AppManifest) -> None:
    text = manifest.dumps()
    again = AppManifest.from_json(json.loads(text))
    assert again == manifest
    assert build_manifest(build()).fingerprint == manifest.fingerprint
    doc = json.loads(text)
    doc.pop("fingerprint")
    from gati.manifest._model import digest

    assert digest(doc) == manifest.fingerprint
    with pytest.raises(CodecError):
        AppManifest.from_json({"format": "other"})
    with pytest.raises(CodecError):
        AppManifest.from_json({**json.loads(text), "handlers": [{}]})


def test_the_fingerprint_follows_the_contract() -> None:
    def app_with(path: str) -> App:
        app = App("one")

        @app.get(path)
        async def h(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
            res.json({})

        return app

    a, b = build_manifest(app_with("/a")), build_manifest(app_with("/b"))
    assert a.fingerprint != b.fingerprint
    assert a.handlers[0].fingerprint != b.handlers[0].fingerprint


def test_a_handler_without_source_is_marked_unanalyzed() -> None:
    app = App("lambdas")
    handler: Any = eval("lambda req, res, lctx, gctx: None")
    app.get("/x", handler_id="x")(handler)
    h = build_manifest(app).handlers[0]
    assert not h.source.analyzed and h.source.note
    assert h.modules == () and h.statuses == (200,)


def test_bad_capability_declarations_are_refused() -> None:
    class Bad:
        __gati_capabilities__ = "email.send"  # a string, not a tuple of strings

        def __init__(self, config: dict[str, Any]) -> None:
            pass

    app = App("bad")
    app.module("bad")(Bad)
    with pytest.raises(AppError, match="__gati_capabilities__"):
        build_manifest(app)


def test_the_examples_have_manifests() -> None:
    from examples.typed_users.app import app as typed
    from examples.users.app import app as users

    m = build_manifest(typed)
    create = next(h for h in m.handlers if h.name == "create_user")
    assert create.request is not None and create.request.name == "CreateUser"
    assert create.statuses == (201,)
    assert (409, "email_taken") in {(e.status, e.code) for e in create.errors}
    assert {h.hook_id.rsplit(".", 1)[-1] for h in create.hooks} == {"stamp", "served_by"}
    db = m.module("db")
    assert db is not None and "insert_user" in {x.name for x in db.methods}
    listing = next(h for h in m.handlers if h.name == "list_users")
    assert listing.query_params == ("limit", "after")
    # The hooks-and-mail example too.
    u = build_manifest(users)
    assert {x.module_id for x in u.modules} >= {"db", "mail"}
    assert any(c.module == "mail" for h in u.handlers for c in h.modules)
