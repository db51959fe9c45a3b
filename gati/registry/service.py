"""The registry's answers, over the frame catalog and the schema store, without HTTP.

Two id spaces meet here and must not collide on the wire:

- frame ids (``schemas/avro/registry.json``: 1, 2, ... 9), what every Gati message
  carries, served as they are;
- schema-store ids (``SchemaStore``, the ``schemas`` table: typed bodies, subjects
  registered with ``gati types register`` or through this API), served as
  ``STORE_ID_BASE + schema_id``, because the table counts from 1 as well.

Compatibility is the ``avro`` package's check that the store already runs
(``gati.types.check_compatibility``); the transitive levels run it against every version.
Errors are ``RegistryError`` with Confluent's ``error_code``s, since clients branch on them
(confluent-kafka raises ``SchemaRegistryError`` carrying the code).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import avro.errors
import avro.schema

from gati.errors import GatiError
from gati.registry.frames import FrameCatalog
from gati.store.schemas import SchemaIncompatible, SchemaNotFound, SchemaStore
from gati.types import check_compatibility
from gati.types.avro_schema import canonical

STORE_ID_BASE = 100_000
LEVELS = ("BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
          "FULL_TRANSITIVE", "NONE")
DEFAULT_LEVEL = "BACKWARD"  # Confluent's default


class RegistryError(GatiError):
    """A refusal with Confluent's HTTP status and ``error_code``.

    ``error_code`` is Confluent's code space (40401 ... 50001), which clients branch on;
    ``code`` stays Gati's one stable code for the whole family.
    """

    code = "registry_error"

    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.error_code = status, error_code


def subject_not_found(subject: str) -> RegistryError:
    return RegistryError(404, 40401, f"Subject '{subject}' not found.")


@dataclass(frozen=True, slots=True)
class Version:
    subject: str
    version: int
    schema_id: int
    schema: str  # the schema as JSON text, as Confluent serves it

    def as_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "version": self.version, "id": self.schema_id,
                "schema": self.schema}


def parse_schema(text: Any, schema_type: Any = None, references: Any = None) -> str:
    """The canonical text of a posted schema, or 42201 naming what is wrong."""
    if schema_type not in (None, "AVRO"):
        raise RegistryError(422, 42201, f"Invalid schema: schemaType {schema_type!r} is not "
                            "supported; this registry serves AVRO")
    if references:
        raise RegistryError(422, 42201, "Invalid schema: schema references are not supported; "
                            "post the schema with its named types inline")
    if not isinstance(text, str):
        raise RegistryError(422, 42201, "Invalid schema: 'schema' must be a string of JSON")
    try:
        parsed = json.loads(text)
        avro.schema.parse(text)
    except (ValueError, avro.errors.AvroException) as exc:
        raise RegistryError(422, 42201, f"Invalid schema: {exc}") from None
    return canonical(parsed)


class Registry:
    """Confluent's registry operations over ``frames`` and ``store``.

    ``config`` holds the compatibility levels (global under ``""``); it lives in this
    process (the store has no table for it), so it starts at BACKWARD on every start.
    """

    def __init__(self, frames: FrameCatalog, store: SchemaStore) -> None:
        self.frames = frames
        self.store = store
        self.config: dict[str, str] = {"": DEFAULT_LEVEL}

    async def schema_by_id(self, schema_id: int) -> str:
        frame = self.frames.by_id.get(schema_id)
        if frame is not None:
            return frame.text
        if schema_id > STORE_ID_BASE:
            try:
                return canonical((await self.store.get(schema_id - STORE_ID_BASE)).schema)
            except SchemaNotFound:
                pass
        raise RegistryError(404, 40403, f"Schema {schema_id} not found")

    async def subjects(self) -> list[str]:
        return sorted({*self.frames.subjects, *await self.store.subjects()})

    async def versions(self, subject: str) -> list[Version]:
        ids = self.frames.subjects.get(subject)
        if ids is not None:
            return [Version(subject, n, i, self.frames.by_id[i].text)
                    for n, i in enumerate(ids, start=1)]
        found = [Version(subject, v.version, STORE_ID_BASE + v.schema_id, canonical(v.schema))
                 for v in await self.store.versions(subject)]
        if not found:
            raise subject_not_found(subject)
        return found

    async def version(self, subject: str, version: str) -> Version:
        versions = await self.versions(subject)
        if version in ("latest", "-1"):
            return versions[-1]
        try:
            number = int(version)
        except ValueError:
            number = 0
        if number < 1:
            raise RegistryError(422, 42202, f"The specified version '{version}' is not a valid "
                                "version id. Allowed values are between [1, 2^31-1] and the "
                                "string \"latest\"")
        for v in versions:
            if v.version == number:
                return v
        raise RegistryError(404, 40402, f"Version {number} not found.")

    async def lookup(self, subject: str, text: str) -> Version:
        """The version of ``subject`` whose schema is ``text`` (POST /subjects/{s})."""
        for v in await self.versions(subject):
            if v.schema == text:
                return v
        raise RegistryError(404, 40403, "Schema not found")

    async def register(self, subject: str, text: str) -> int:
        """The id of ``text`` as a version of ``subject``, adding it if it is new.

        The frame subjects are read-only: the envelope schemas change with Gati's code,
        never through the API. A client that registers the schema it read back is told
        the id the frames carry.
        """
        if subject in self.frames.subjects:
            found = self.frames.find(subject, text)
            if found is None:
                raise RegistryError(422, 42205, f"Subject '{subject}' is Gati's own frame "
                                    "subject and is read-only; its schemas change with Gati")
            return found[0]
        level = self.level(subject)
        if level.endswith("_TRANSITIVE"):
            await self._check_all(subject, text, level)
        mode = "none" if level.endswith("_TRANSITIVE") else level.lower()
        try:
            schema_id, _ = await self.store.register(subject, json.loads(text), mode)
        except SchemaIncompatible as exc:
            raise RegistryError(409, 409, f"Schema being registered is incompatible with an "
                                f"earlier schema for subject \"{subject}\": {exc.message}"
                                ) from None
        except GatiError as exc:  # StoreError: the store refused the schema
            raise RegistryError(500, 50001, f"Error in the backend data store: {exc.message}"
                                ) from None
        return STORE_ID_BASE + schema_id

    async def _check_all(self, subject: str, text: str, level: str) -> None:
        mode = level.removesuffix("_TRANSITIVE").lower()
        try:
            versions = await self.versions(subject)
        except RegistryError:
            return  # a first version is compatible with nothing before it
        for v in versions:
            report = check_compatibility(v.schema, text, mode)  # type: ignore[arg-type]
            if not report.compatible:
                raise RegistryError(409, 409, "Schema being registered is incompatible with "
                                    f"version {v.version} of subject \"{subject}\" ({level}): "
                                    f"{report.render()}")

    async def compatible(self, subject: str, version: str, text: str) -> list[str]:
        """The problems of ``text`` against ``version`` of ``subject`` (empty: compatible)."""
        level = self.level(subject)
        if level == "NONE":
            await self.version(subject, version)  # unknown subject / version still refused
            return []
        mode = level.removesuffix("_TRANSITIVE").lower()
        against = (await self.versions(subject) if level.endswith("_TRANSITIVE")
                   and version in ("latest", "-1") else [await self.version(subject, version)])
        problems: list[str] = []
        for v in against:
            report = check_compatibility(v.schema, text, mode)  # type: ignore[arg-type]
            if not report.compatible:
                problems.append(f"version {v.version}: {report.render()}")
        return problems

    def level(self, subject: str) -> str:
        return self.config.get(subject) or self.config[""]

    def set_level(self, subject: str, level: Any) -> str:
        if not isinstance(level, str) or level.upper() not in LEVELS:
            raise RegistryError(422, 42203, f"Invalid compatibility level {level!r}; one of "
                                f"{', '.join(LEVELS)}")
        self.config[subject] = level.upper()
        return level.upper()

    def subject_level(self, subject: str, default_to_global: bool) -> str:
        if subject in self.config:
            return self.config[subject]
        if default_to_global:
            return self.config[""]
        raise RegistryError(404, 40408, f"Subject '{subject}' does not have subject-level "
                            "compatibility configured")
