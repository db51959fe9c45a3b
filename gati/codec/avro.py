"""Schema-id framed Avro, the registry convention: magic byte 0, 4-byte big-endian id, body.

The id lets a reader find the writer's schema, so a record written months ago still
decodes after the schema evolved. Decoding treats bytes as untrusted: a size cap, an
allow-list of ids per use, and every decoder failure turned into ``CodecError``.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastavro

from gati.errors import CodecError

MAGIC = 0
_HEADER = struct.Struct(">bI")
DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RegisteredSchema:
    schema_id: int
    name: str
    parsed: Any


def schema_dir() -> Path:
    """``schemas/avro`` of a source checkout, or the copy packaged into the wheel."""
    here = Path(__file__).resolve()
    checkout = here.parents[2] / "schemas" / "avro"
    if (checkout / "registry.json").exists():
        return checkout
    return here.parent / "_schemas"


class SchemaRegistry:
    """Schema id <-> parsed schema. Loaded once per process; ids never change."""

    def __init__(self, schemas: Iterable[RegisteredSchema]) -> None:
        self._by_id: dict[int, RegisteredSchema] = {}
        self._latest: dict[str, RegisteredSchema] = {}
        for schema in schemas:
            if schema.schema_id in self._by_id:
                raise CodecError(f"schema id {schema.schema_id} is registered twice")
            self._by_id[schema.schema_id] = schema
            current = self._latest.get(schema.name)
            if current is None or current.schema_id < schema.schema_id:
                self._latest[schema.name] = schema

    @classmethod
    def load(cls, directory: Path) -> SchemaRegistry:
        index = json.loads((directory / "registry.json").read_text())
        named: dict[str, Any] = {}
        for file in index.get("named_types", []):
            fastavro.parse_schema(json.loads((directory / file).read_text()), named_schemas=named)
        entries = []
        for item in index["schemas"]:
            raw = json.loads((directory / item["file"]).read_text())
            # Named types accumulate in registry order, so a later schema can use an
            # earlier one's records (LifecycleBatch holds LifecycleEvents). Each schema
            # keeps its own snapshot: fastavro resolves names through the dict it was
            # parsed with, and a later version of a record must not change how an
            # earlier writer's schema decodes.
            scratch = dict(named)
            parsed = fastavro.parse_schema(raw, named_schemas=scratch)
            named.update(scratch)
            entries.append(RegisteredSchema(int(item["id"]), item["name"], parsed))
        return cls(entries)

    def latest(self, name: str) -> RegisteredSchema:
        try:
            return self._latest[name]
        except KeyError:
            raise CodecError(f"no schema named {name!r}") from None

    def by_id(self, schema_id: int) -> RegisteredSchema:
        try:
            return self._by_id[schema_id]
        except KeyError:
            raise CodecError(f"unknown schema id {schema_id}") from None

    def ids_for(self, name: str) -> frozenset[int]:
        return frozenset(s.schema_id for s in self._by_id.values() if s.name == name)


@lru_cache(maxsize=1)
def default_registry() -> SchemaRegistry:
    return SchemaRegistry.load(schema_dir())


class AvroCodec:
    def __init__(
        self, registry: SchemaRegistry, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    ) -> None:
        self.registry = registry
        self.max_message_bytes = max_message_bytes

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        schema = self.registry.latest(name)
        buf = io.BytesIO()
        buf.write(_HEADER.pack(MAGIC, schema.schema_id))
        try:
            fastavro.schemaless_writer(buf, schema.parsed, record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise CodecError(f"cannot encode {name}: {exc}") from exc
        return buf.getvalue()

    def decode(self, data: bytes, allowed_ids: frozenset[int]) -> tuple[str, dict[str, Any]]:
        """Decode a framed message whose schema id is in ``allowed_ids``.

        Raises:
            CodecError: too large, not framed, an id not allowed here, or a corrupt body.
        """
        if len(data) > self.max_message_bytes:
            raise CodecError(f"message of {len(data)} bytes is over {self.max_message_bytes}")
        if len(data) < _HEADER.size:
            raise CodecError(f"message of {len(data)} bytes is too short to be framed")
        magic, schema_id = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise CodecError(f"bad magic byte {magic}; not a schema-id framed Avro message")
        if schema_id not in allowed_ids:
            raise CodecError(f"schema id {schema_id} is not accepted here")
        writer = self.registry.by_id(schema_id)
        reader = self.registry.latest(writer.name)
        buf = io.BytesIO(data)
        buf.seek(_HEADER.size)
        # Resolution only for an older writer: fastavro's resolving reader is about twice
        # as slow, and the recorder decodes every lifecycle batch.
        reader_schema = None if reader is writer else reader.parsed
        try:
            record = fastavro.schemaless_reader(buf, writer.parsed, reader_schema)
        except Exception as exc:  # fastavro raises many types on corrupt input
            raise CodecError(f"corrupt {writer.name} message: {type(exc).__name__}: {exc}") from exc
        if buf.tell() != len(data):
            raise CodecError(f"{len(data) - buf.tell()} trailing bytes after a {writer.name}")
        if not isinstance(record, dict):
            raise CodecError(f"{writer.name} did not decode to a record")
        return writer.name, record
