"""The schema store: Avro schemas by id, subjects with versions, and app manifests.

The registry convention, in the record's own database (Postgres or SQLite):

- ``schemas``: one row per distinct schema; ``schema_id`` is what a message carries
  (magic byte + 4-byte id), ``fingerprint`` (sha256 of the schema's sorted, compact
  JSON) makes registering the same schema twice return the same id;
- ``schema_subjects``: the versions of a subject (``gati.app.users.create_user.request``),
  1, 2, ... each pointing at a schema id;
- ``manifests``: an app's manifest, once per distinct fingerprint (workers store theirs
  at start, so every deployed contract is on record).

A new version of a subject is checked against the latest one with the ``avro``
package's checker (``gati.types.check_compatibility``) and refused when it breaks the
subject's mode; the error carries the report.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gati.errors import StoreError
from gati.manifest import AppManifest
from gati.store.errors import map_store_errors
from gati.store.tables import UTCDateTime
from gati.types import CompatibilityReport, check_compatibility
from gati.types.avro_schema import canonical

MODES = ("backward", "forward", "full", "none")
_ATTEMPTS = 5  # concurrent registrations of one subject race on (subject, version)

metadata = sa.MetaData()
schemas = sa.Table(
    "schemas",
    metadata,
    sa.Column("schema_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("fingerprint", sa.Text, nullable=False, unique=True),
    sa.Column("schema", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("codec", sa.Text),
)
schema_subjects = sa.Table(
    "schema_subjects",
    metadata,
    sa.Column("subject", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("schema_id", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)
manifests = sa.Table(
    "manifests",
    metadata,
    sa.Column("app", sa.Text, primary_key=True),
    sa.Column("fingerprint", sa.Text, primary_key=True),
    sa.Column("manifest", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)


class SchemaNotFound(StoreError):
    code = "schema_not_found"
    status = 404


class SchemaIncompatible(StoreError):
    """A new version of a subject breaks its compatibility mode.

    ``report`` is the compatibility report; the message ends with its ``render()``.
    """

    code = "schema_incompatible"
    status = 409

    def __init__(self, subject: str, latest_version: int, report: CompatibilityReport,
                 changes: list[str] | None = None) -> None:
        listed = "".join(f"\n    {c}" for c in changes or ())
        super().__init__(
            f"schema for {subject} is incompatible with version {latest_version} "
            f"({report.mode}):\n{report.render()}" + (f"\n  fields:{listed}" if listed else "")
        )
        self.subject = subject
        self.latest_version = latest_version
        self.report = report
        self.changes = list(changes or ())


@dataclass(frozen=True, slots=True)
class StoredSchema:
    schema_id: int
    fingerprint: str
    schema: Any  # the Avro schema, parsed JSON
    created_at: datetime
    codec: dict[str, Any] | None = None  # {gtype, namespace, name} when known


@dataclass(frozen=True, slots=True)
class SubjectVersion:
    subject: str
    version: int
    schema_id: int
    schema: Any


def schema_fingerprint(avro_schema: Any) -> str:
    """sha256 (hex) of the schema's canonical JSON (sorted keys, compact)."""
    return hashlib.sha256(canonical(avro_schema).encode()).hexdigest()


class SchemaStore:
    """Schemas and subjects in the database behind ``engine`` (migrated to 0004+)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def register(
        self, subject: str, avro_schema: Any, mode: str = "backward"
    ) -> tuple[int, int]:
        """Add ``avro_schema`` as the next version of ``subject``: ``(schema_id, version)``.

        Idempotent: a schema already registered under ``subject`` returns its existing id
        and version. ``mode`` (backward, forward, full or none) is checked against the
        subject's latest version only.

        Raises:
            SchemaIncompatible: the schema breaks ``mode``; carries the report.
            StoreError: the schema is not valid Avro, or the database failed.
        """
        if mode not in MODES:
            raise StoreError(f"unknown compatibility mode {mode!r} ({', '.join(MODES)})")
        if not subject:
            raise StoreError("a subject must not be empty")
        text = canonical(avro_schema)
        fingerprint = schema_fingerprint(text)
        with map_store_errors(f"schema store: registering {subject}"):
            for attempt in range(_ATTEMPTS):
                try:
                    async with self.engine.begin() as conn:
                        return await self._register(conn, subject, text, fingerprint, mode)
                except IntegrityError:
                    if attempt == _ATTEMPTS - 1:
                        raise StoreError(f"could not register a version of {subject}: "
                                         "concurrent registrations kept conflicting") from None
        raise AssertionError("unreachable")

    async def _register(self, conn: AsyncConnection, subject: str, text: str,
                        fingerprint: str, mode: str) -> tuple[int, int]:
        now = datetime.now(UTC)
        existing = (await conn.execute(
            sa.select(schemas.c.schema_id).where(schemas.c.fingerprint == fingerprint)
        )).scalar_one_or_none()
        if existing is not None:
            version = (await conn.execute(
                sa.select(sa.func.min(schema_subjects.c.version)).where(
                    schema_subjects.c.subject == subject,
                    schema_subjects.c.schema_id == existing,
                )
            )).scalar_one_or_none()
            if version is not None:
                return int(existing), int(version)
        latest = await self._latest(conn, subject)
        if latest is not None and mode != "none":
            try:
                report = check_compatibility(latest.schema, json.loads(text), mode)  # type: ignore[arg-type]
            except Exception as exc:  # AppError: the new schema does not parse
                raise StoreError(f"schema for {subject} is not valid Avro: {exc}") from None
            if not report.compatible:
                changes = avro_changes(latest.schema, json.loads(text))
                raise SchemaIncompatible(subject, latest.version, report, changes)
        elif latest is None:
            _check_parses(subject, text)
        schema_id = existing
        if schema_id is None:
            schema_id = (await conn.execute(
                schemas.insert().values(fingerprint=fingerprint, schema=text, created_at=now)
                .returning(schemas.c.schema_id)
            )).scalar_one()
        version = 1 if latest is None else latest.version + 1
        await conn.execute(schema_subjects.insert().values(
            subject=subject, version=version, schema_id=schema_id, created_at=now))
        return int(schema_id), version

    async def ensure(self, avro_schema: Any, codec: dict[str, Any] | None = None) -> int:
        """The id of ``avro_schema``, adding it (under no subject) if it is new.

        What gateways and workers call at start for the body schemas they put on the
        wire: an id is content-addressed by fingerprint, so every process of every
        deployment gets the same id for the same schema, and no compatibility mode is
        enforced (that is ``register``'s job, run as a deliberate step). ``codec`` (the
        GType, namespace and root name) lets other processes rebuild the exact decoder.

        Raises:
            StoreError: the database failed.
        """
        text = canonical(avro_schema)
        fingerprint = schema_fingerprint(text)
        # Key order is meaning here (an object's properties are its field order).
        codec_text = None if codec is None else json.dumps(codec, separators=(",", ":"))
        query = sa.select(schemas.c.schema_id, schemas.c.codec).where(
            schemas.c.fingerprint == fingerprint)
        with map_store_errors("schema store: adding a schema"):
            for attempt in range(_ATTEMPTS):
                try:
                    return await self._ensure_once(query, fingerprint, text, codec_text)
                except IntegrityError:
                    if attempt == _ATTEMPTS - 1:
                        raise StoreError("could not add a schema: concurrent additions kept "
                                         "conflicting") from None
        raise AssertionError("unreachable")

    async def _ensure_once(self, query: sa.Select[Any], fingerprint: str, text: str,
                           codec_text: str | None) -> int:
        async with self.engine.begin() as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                return int((await conn.execute(
                    schemas.insert().values(fingerprint=fingerprint, schema=text,
                                            codec=codec_text, created_at=datetime.now(UTC))
                    .returning(schemas.c.schema_id))).scalar_one())
            if row[1] is None and codec_text is not None:
                await conn.execute(schemas.update().where(
                    schemas.c.schema_id == row[0]).values(codec=codec_text))
            return int(row[0])

    async def get(self, schema_id: int) -> StoredSchema:
        """The schema with this id.

        Raises:
            SchemaNotFound: no such id.
        """
        with map_store_errors(f"schema store: reading schema {schema_id}"):
            async with self.engine.connect() as conn:
                row = (await conn.execute(
                    sa.select(schemas).where(schemas.c.schema_id == schema_id)
                )).mappings().first()
        if row is None:
            raise SchemaNotFound(f"no schema with id {schema_id}")
        return StoredSchema(int(row["schema_id"]), row["fingerprint"], json.loads(row["schema"]),
                            row["created_at"],
                            None if row["codec"] is None else json.loads(row["codec"]))

    async def subjects(self) -> list[str]:
        """Every subject with at least one version, sorted."""
        with map_store_errors("schema store: listing subjects"):
            async with self.engine.connect() as conn:
                rows = await conn.execute(
                    sa.select(schema_subjects.c.subject).distinct()
                    .order_by(schema_subjects.c.subject)
                )
                return [r[0] for r in rows]

    async def versions(self, subject: str) -> list[SubjectVersion]:
        """Every version of ``subject``, oldest first."""
        with map_store_errors(f"schema store: reading the versions of {subject}"):
            async with self.engine.connect() as conn:
                rows = (await conn.execute(
                    _subject_query(subject).order_by(schema_subjects.c.version)
                )).mappings().all()
        return [_version(r) for r in rows]

    async def latest(self, subject: str) -> SubjectVersion | None:
        """The newest version of ``subject``, or None when it has none."""
        with map_store_errors(f"schema store: reading the latest {subject}"):
            async with self.engine.connect() as conn:
                return await self._latest(conn, subject)

    async def _latest(self, conn: AsyncConnection, subject: str) -> SubjectVersion | None:
        row = (await conn.execute(
            _subject_query(subject).order_by(schema_subjects.c.version.desc()).limit(1)
        )).mappings().first()
        return None if row is None else _version(row)


def _subject_query(subject: str) -> sa.Select[Any]:
    return (
        sa.select(schema_subjects.c.subject, schema_subjects.c.version,
                  schema_subjects.c.schema_id, schemas.c.schema)
        .join(schemas, schemas.c.schema_id == schema_subjects.c.schema_id)
        .where(schema_subjects.c.subject == subject)
    )


def _version(row: Any) -> SubjectVersion:
    return SubjectVersion(row["subject"], int(row["version"]), int(row["schema_id"]),
                          json.loads(row["schema"]))


def avro_changes(old: Any, new: Any) -> list[str]:
    """Field-level differences of two Avro schemas, for people: ``- $.name: removed``."""
    out: list[str] = []
    _avro_diff(old, new, "$", out, {}, {})
    return out


def _avro_type(schema: Any, named: dict[str, Any]) -> Any:
    if isinstance(schema, dict) and schema.get("type") in ("record", "enum", "fixed"):
        named[str(schema["name"]).rsplit(".", 1)[-1]] = schema
    if isinstance(schema, str) and schema.rsplit(".", 1)[-1] in named:
        return named[schema.rsplit(".", 1)[-1]]
    return schema


def _avro_label(schema: Any) -> str:
    if isinstance(schema, list):
        return " | ".join(_avro_label(s) for s in schema)
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind in ("record", "enum", "fixed"):
            return str(schema.get("name"))
        if kind == "array":
            return f"array of {_avro_label(schema.get('items'))}"
        if kind == "map":
            return f"map of {_avro_label(schema.get('values'))}"
        return str(schema.get("logicalType") or kind)
    return str(schema)


def _avro_diff(old: Any, new: Any, path: str, out: list[str], on: dict[str, Any],
               nn: dict[str, Any]) -> None:
    old, new = _avro_type(old, on), _avro_type(new, nn)
    if isinstance(old, dict) and isinstance(new, dict) and old.get("type") == new.get("type"):
        kind = old.get("type")
        if kind == "record":
            if old.get("name") != new.get("name"):
                out.append(f"~ {path}: record renamed {old.get('name')} -> {new.get('name')}")
            before = {f["name"]: f for f in old.get("fields", [])}
            after = {f["name"]: f for f in new.get("fields", [])}
            for name, f in before.items():
                if name not in after:
                    out.append(f"- {path}.{name}: removed ({_avro_label(f['type'])})")
                else:
                    _avro_diff(f["type"], after[name]["type"], f"{path}.{name}", out, on, nn)
            for name, f in after.items():
                if name not in before:
                    default = "with default" if "default" in f else "no default"
                    out.append(f"+ {path}.{name}: added ({_avro_label(f['type'])}, {default})")
            return
        if kind in ("array", "map"):
            key, mark = ("items", "[]") if kind == "array" else ("values", "{}")
            _avro_diff(old.get(key), new.get(key), path + mark, out, on, nn)
            return
        if kind == "enum":
            gone = [s for s in old.get("symbols", []) if s not in new.get("symbols", [])]
            added = [s for s in new.get("symbols", []) if s not in old.get("symbols", [])]
            if gone or added:
                out.append(f"~ {path}: enum symbols removed {gone}, added {added}")
            return
    if _avro_label(old) != _avro_label(new):
        out.append(f"~ {path}: type {_avro_label(old)} -> {_avro_label(new)}")


def _check_parses(subject: str, text: str) -> None:
    try:
        check_compatibility(text, text, "backward")
    except Exception as exc:  # AppError from the avro parser
        raise StoreError(f"schema for {subject} is not valid Avro: {exc}") from None


def body_schema_loader(engine: AsyncEngine) -> Callable[[int], Awaitable[tuple[Any, Any] | None]]:
    """``gati.codec.bodies.SchemaLoader`` over this store: (schema, codec spec) or None."""
    store = SchemaStore(engine)

    async def load(schema_id: int) -> tuple[Any, Any] | None:
        try:
            found = await store.get(schema_id)
        except SchemaNotFound:
            return None
        return found.schema, found.codec

    return load


async def store_manifest(engine: AsyncEngine, manifest: AppManifest) -> bool:
    """Keep ``manifest`` in the ``manifests`` table; True if it was not there yet.

    Idempotent on (app, fingerprint): every worker of a deployment may call it at start.

    Raises:
        StoreError: the database failed.
    """
    row = {
        "app": manifest.app,
        "fingerprint": manifest.fingerprint,
        "manifest": manifest.dumps(indent=None),
        "created_at": datetime.now(UTC),
    }
    key = (manifests.c.app == manifest.app) & (manifests.c.fingerprint == manifest.fingerprint)
    with map_store_errors(f"schema store: storing the manifest of {manifest.app}"):
        try:
            async with engine.begin() as conn:
                if (await conn.execute(sa.select(manifests.c.app).where(key))).first():
                    return False
                await conn.execute(manifests.insert().values(**row))
                return True
        except IntegrityError:
            return False  # another worker stored the same manifest first


async def load_manifest(engine: AsyncEngine, app: str,
                        fingerprint: str | None = None) -> AppManifest | None:
    """A stored manifest of ``app``: the one with ``fingerprint``, else the newest."""
    query = sa.select(manifests.c.manifest).where(manifests.c.app == app)
    if fingerprint is not None:
        query = query.where(manifests.c.fingerprint == fingerprint)
    query = query.order_by(manifests.c.created_at.desc()).limit(1)
    with map_store_errors(f"schema store: loading the manifest of {app}"):
        async with engine.connect() as conn:
            text = (await conn.execute(query)).scalar_one_or_none()
    return None if text is None else AppManifest.from_json(json.loads(text))
