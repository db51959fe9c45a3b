"""Typed bodies on the wire: which requests the gateway sends as Avro, and that readers
get back exactly the JSON the client sent."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from examples.users.app import app as users_app
from gati import App, GlobalContext, LocalContext, Request, Response
from gati.codec.bodies import BodyCodecs, UnknownBodySchema, codecs_for
from gati.codegen.avro import avro_schemas
from gati.core.envelopes import RequestEnvelope
from gati.gateway.bodies import TypedBodies, same_json
from gati.manifest import build_manifest
from gati.store.schemas import SchemaStore, body_schema_loader
from gati.store.store import Store, open_store

JSON = "application/json"


class _Ids:
    """An in-memory stand-in for ``SchemaStore.ensure``: one id per distinct schema."""

    def __init__(self) -> None:
        self.by_schema: dict[str, int] = {}

    async def __call__(self, schema: Any, spec: dict[str, Any]) -> int:
        return self.by_schema.setdefault(json.dumps(schema, sort_keys=True),
                                         len(self.by_schema) + 100)


@dataclass
class Price:
    amount: float
    note: str | None = None


priced = App("priced")


@priced.post("/prices", request=Price)
async def set_price(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
    res.json({"ok": True})


async def _users() -> TypedBodies:
    users_app.validate()
    return await TypedBodies.register(users_app, _Ids())


async def test_a_valid_body_goes_as_avro_of_the_version_the_client_asked_for() -> None:
    bodies = await _users()
    v1 = bodies.encode("POST", "/users", None, JSON, b'{"email": "a@b.co", "name": "Ada"}')
    v2 = bodies.encode("POST", "/users", "v2", JSON,
                       b'{"firstName": "Ada", "lastName": "L", "email": "a@b.co"}')
    assert v1 is not None and v2 is not None
    ids = bodies.schema_ids
    handler = "examples.users.app.create_user"
    assert (v1[0], v2[0]) == (ids[(handler, "2025-01-01")], ids[(handler, "2025-06-01")])
    assert b"{" not in v1[1]  # Avro, not the client's JSON
    assert len(v1[1]) < len(b'{"email": "a@b.co", "name": "Ada"}')


@pytest.mark.parametrize(("content_type", "body", "why"), [
    (JSON, b'{"name": 5, "email": "a@b.co"}', "fails its contract: the worker answers 400"),
    (JSON, b'{"name": "Ada"}', "a required field is missing"),
    (JSON, b'{"name": "Ada", "email": "a@b.co", "extra": 1}', "Avro would drop a key"),
    (JSON, b'{"name": "Ada", "email": ', "not JSON: the worker answers invalid_json"),
    ("text/plain", b'{"name": "Ada", "email": "a@b.co"}', "not a JSON content type"),
    (None, b'{"name": "Ada", "email": "a@b.co"}', "no content type"),
    (JSON, b"", "no body"),
])
async def test_anything_avro_would_change_travels_as_the_clients_bytes(
    content_type: str | None, body: bytes, why: str,
) -> None:
    bodies = await _users()
    assert bodies.encode("POST", "/users", None, content_type, body) is None, why


async def test_routes_and_versions_the_worker_must_judge_travel_as_json() -> None:
    bodies = await _users()
    body = b'{"name": "Ada", "email": "a@b.co"}'
    assert bodies.encode("POST", "/nowhere", None, JSON, body) is None
    assert bodies.encode("DELETE", "/users", None, JSON, body) is None
    assert bodies.encode("POST", "/users", "not a version!", JSON, body) is None
    assert bodies.encode("POST", "/users", "v9", JSON, body) is None


async def test_an_int_for_a_float_field_goes_as_json_because_avro_would_make_it_a_float(
) -> None:
    priced.validate()
    bodies = await TypedBodies.register(priced, _Ids())
    assert bodies.encode("POST", "/prices", None, JSON, b'{"amount": 10}') is None
    assert bodies.encode("POST", "/prices", None, JSON,
                         b'{"amount": 10.5, "note": "x"}') is not None
    assert bodies.encode("POST", "/prices", None, JSON,
                         b'{"amount": 10.5, "note": null}') is not None
    # Avro would fill in the default of a field the client left out: the handler and
    # any transformer must see the key absent, so that body goes as JSON.
    assert bodies.encode("POST", "/prices", None, JSON, b'{"amount": 10.5}') is None


def test_same_json_tells_json_types_apart() -> None:
    assert same_json({"a": [1, "x"], "b": None}, {"b": None, "a": [1, "x"]})
    assert not same_json({"a": 1}, {"a": 1.0})
    assert not same_json([True], [1])
    assert not same_json({"a": 1}, {"a": 1, "b": 2})
    assert not same_json([1, 2], [1])


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    s = await open_store(f"sqlite+aiosqlite:///{tmp_path}/g.db", migrate_first=True)
    yield s
    await s.close()


def _env(body: bytes, schema_id: int | None) -> RequestEnvelope:
    return RequestEnvelope(
        request_id="r", gateway_id="gw", reply_topic="t", reply_partition=0,
        received_at_us=0, deadline_at_us=1, method="POST", path="/users", query="",
        headers=(("content-type", JSON),), body=body, body_schema=schema_id)


async def test_a_reader_gets_the_clients_json_back_from_its_own_contracts_or_the_store(
    store: Store,
) -> None:
    users_app.validate()
    schemas = SchemaStore(store.engine)
    bodies = await TypedBodies.register(users_app, schemas.ensure)
    sent = {"name": "Ada", "email": "a@b.co"}
    schema_id, data = bodies.encode("POST", "/users", None, JSON,
                                    json.dumps(sent).encode()) or (0, b"")
    # A worker running this code knows the id; a recorder without the app asks the store.
    for reader in (codecs_for(users_app, bodies.schema_ids, None),
                   BodyCodecs(body_schema_loader(store.engine))):
        env = await reader.to_json(_env(data, schema_id))
        assert env.body_schema is None
        assert json.loads(env.body) == sent
    # Registering again (every gateway and worker does at start) gives the same ids.
    assert (await TypedBodies.register(users_app, schemas.ensure)).schema_ids == \
        bodies.schema_ids
    untouched = _env(b'{"name": "x"}', None)
    assert await BodyCodecs().to_json(untouched) is untouched


async def test_an_id_nobody_knows_is_refused_not_guessed(store: Store) -> None:
    with pytest.raises(UnknownBodySchema, match="no schema store"):
        await BodyCodecs().to_json(_env(b"\x00", 5))
    with pytest.raises(UnknownBodySchema, match="not in the schema store"):
        await BodyCodecs(body_schema_loader(store.engine)).to_json(_env(b"\x00", 99999))
    # A schema registered by hand (no codec spec) cannot be decoded to exact JSON.
    bare = await SchemaStore(store.engine).ensure(
        {"type": "record", "name": "Bare", "fields": [{"name": "a", "type": "long"}]})
    with pytest.raises(UnknownBodySchema, match="without a codec spec"):
        await BodyCodecs(body_schema_loader(store.engine)).to_json(_env(b"\x02", bare))


async def test_the_id_on_the_wire_is_the_one_gati_schemas_registers(store: Store) -> None:
    users_app.validate()
    schemas = SchemaStore(store.engine)
    registered = {}
    for f in avro_schemas(build_manifest(users_app)):
        if f.side == "request":
            registered[(f.handler_id, f.version)] = (await schemas.register(f.subject,
                                                                            f.schema))[0]
    wire = (await TypedBodies.register(users_app, schemas.ensure)).schema_ids
    assert wire == registered and len(wire) == 4


async def test_a_body_too_deep_to_parse_is_left_to_the_worker() -> None:
    bodies = await _users()
    deep = b"[" * 100_000 + b"]" * 100_000
    assert bodies.encode("POST", "/users", None, JSON, deep) is None


async def test_a_recursive_body_too_deep_to_encode_goes_as_json() -> None:
    tree_app = App("trees")

    @tree_app.post("/tree", request=Tree)
    async def plant(req: Request, res: Response, lctx: LocalContext, gctx: GlobalContext) -> None:
        res.json({"ok": True})

    tree_app.validate()
    bodies = TypedBodies(tree_app, {(next(iter(tree_app.families)), "initial"): 1})
    shallow = b'{"children": [' * 3 + b"]}" * 3
    deep = b'{"children": [' * 300 + b"]}" * 300
    assert bodies.encode("POST", "/tree", None, JSON, shallow) is not None
    assert bodies.encode("POST", "/tree", None, JSON, deep) is None


@dataclass
class Tree:
    children: list[Tree]
