"""Typed request bodies on the wire: JSON from the client, Avro on Kafka, the same JSON back.

A gateway that knows the app encodes a typed JSON body as schemaless Avro and names the
schema by its schema-store id (``RequestEnvelope.body_schema``). Every reader (worker,
recorder) turns it back into JSON before anything else looks at it, so handlers, hooks,
sealing, redaction, the record and replay see exactly what they would have seen had the
body travelled as JSON. The gateway only chooses Avro when that round trip is exact
(``gati.gateway.bodies``), which is what makes this safe.

A reader knows the ids of its own contracts; any other id (a gateway running newer code)
is looked up once in the schema store, whose ``codec`` column rebuilds the exact decoder.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from gati.core.app import App
from gati.core.envelopes import RequestEnvelope
from gati.errors import CodecError
from gati.types.avro_schema import AvroCodec as BodyCodec
from gati.types.avro_schema import canonical
from gati.types.contract import TypeContract

# schema id -> (Avro schema, codec spec or None), or None when the store has no such id.
SchemaLoader = Callable[[int], Awaitable[tuple[Any, Any] | None]]
# (Avro schema, codec spec) -> schema-store id: ``SchemaStore.ensure``.
Ensure = Callable[[Any, dict[str, Any]], Awaitable[int]]


class UnknownBodySchema(CodecError):
    """The envelope names a body schema nobody can decode (not in the store)."""

    code = "body_schema_unknown"


class BodyCodecs:
    """Schema id -> decoder for typed bodies, filled at start and on first sight."""

    def __init__(self, loader: SchemaLoader | None = None) -> None:
        self._by_id: dict[int, BodyCodec] = {}
        self._loader = loader

    def add(self, schema_id: int, codec: BodyCodec) -> None:
        self._by_id[schema_id] = codec

    async def codec(self, schema_id: int) -> BodyCodec:
        """The decoder for ``schema_id``.

        Raises:
            UnknownBodySchema: no such schema, or one stored without a codec spec.
            StoreError: the store could not be read (transient; try again later).
        """
        known = self._by_id.get(schema_id)
        if known is not None:
            return known
        if self._loader is None:
            raise UnknownBodySchema(f"body schema {schema_id} is not one of this process's "
                                    "contracts and there is no schema store to look it up")
        found = await self._loader(schema_id)
        if found is None:
            raise UnknownBodySchema(f"body schema {schema_id} is not in the schema store")
        schema, spec = found
        if spec is None:
            raise UnknownBodySchema(f"body schema {schema_id} was stored without a codec spec")
        codec = BodyCodec.from_spec(spec)
        if canonical(codec.schema) != canonical(schema):
            raise UnknownBodySchema(f"body schema {schema_id}: its codec spec does not rebuild "
                                    "the stored schema")
        self._by_id[schema_id] = codec
        return codec

    async def to_json(self, env: RequestEnvelope) -> RequestEnvelope:
        """``env`` with a JSON body: unchanged when it already has one.

        Raises:
            CodecError: the body is not a value of its schema (or the schema is unknown).
            StoreError: the schema store could not be read.
        """
        if env.body_schema is None:
            return env
        codec = await self.codec(env.body_schema)
        value = codec.decode(env.body)
        return replace(env, body=dump_json(value), body_schema=None)


def request_contracts(app: App) -> Iterator[tuple[tuple[str, str], TypeContract]]:
    """Every typed request of ``app``: ((handler id, version label), its contract)."""
    for family in app.families.values():
        for version in family.versions:
            contract = version.target.request_contract
            if contract is not None:
                yield (family.handler_id, version.label), contract


async def request_schema_ids(app: App, ensure: Ensure) -> dict[tuple[str, str], int]:
    """Put every request contract of ``app`` in the schema store: (handler, version) -> id.

    Raises:
        StoreError: the store could not be written.
    """
    return {key: await ensure(contract.codec.schema, contract.codec.spec())
            for key, contract in request_contracts(app)}


def codecs_for(app: App, ids: Mapping[tuple[str, str], int],
               loader: SchemaLoader | None) -> BodyCodecs:
    """A worker's or recorder's decoders: its own contracts, then the store on demand."""
    codecs = BodyCodecs(loader)
    for key, contract in request_contracts(app):
        if key in ids:
            codecs.add(ids[key], contract.codec)
    return codecs


def dump_json(value: Any) -> bytes:
    """The JSON a reader hands on for a decoded body: compact, UTF-8, the type's key order."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

