"""The Timescape registry: which versions exist, their tags, status and usage.

Code declares versions (and their code tags); operators add tags and deactivate versions
with ``gati timescape``. Workers register their app's versions at start and read the
operator state back (``CachedVersionState``) to route.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from gati.core.app import App
from gati.core.evolution import assess
from gati.core.timescape import Family, is_tag
from gati.errors import GatiError
from gati.manifest import AppManifest, build_manifest
from gati.store.errors import map_store_errors
from gati.store.tables import handler_versions, requests
from gati.types import GType, compare, namespace_for

log = logging.getLogger(__name__)
PROTECTED_TAGS = frozenset({"stable"})


class TimescapeError(GatiError):
    code = "timescape_error"


@dataclass(frozen=True, slots=True)
class VersionRow:
    handler_id: str
    version: str
    tsv: datetime
    method: str
    path: str
    code_tags: tuple[str, ...]
    tags: tuple[str, ...]
    fingerprint: str
    status: str
    manifest: dict[str, Any]

    @property
    def all_tags(self) -> tuple[str, ...]:
        return self.code_tags + tuple(t for t in self.tags if t not in self.code_tags)


@dataclass(frozen=True, slots=True)
class Usage:
    last_hour: int
    last_day: int
    last_seen: datetime | None

    def temperature(self, hot_per_hour: int) -> str:
        if self.last_hour >= hot_per_hour:
            return "hot"
        return "warm" if self.last_day > 0 else "cold"


def version_manifest(app: App, family: Family) -> dict[tuple[str, str], dict[str, Any]]:
    """What the registry keeps per version: contract, hooks, breaking verdict."""
    verdicts = {a.version: a for a in assess(app.name, family)}
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for v in family.versions:
        spec = v.target
        a = verdicts[v.label]
        out[(family.handler_id, v.label)] = {
            "method": family.method,
            "path": family.path,
            "version": v.label,
            "request": spec.request_contract.gtype.to_json() if spec.request_contract else None,
            "response": spec.response_contract.gtype.to_json() if spec.response_contract else None,
            "hooks": [
                h.hook_id
                for kind in ("before", "after", "catch", "cleanup")
                for h in spec.hooks.of_name(kind)
            ],
            "timeout_s": spec.timeout_s,
            "breaking": a.breaking if a.judged else None,
            "assessment": a.render(),
        }
    return out


class VersionRegistry:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    async def register(self, app: App, app_manifest: AppManifest | None = None) -> int:
        """Upsert every version of ``app``; operator tags and status are kept."""
        now = datetime.now(UTC)
        # The Timescape fingerprint is the manifest's, so `gati timescape list` and
        # `gati manifest` name a version's contract the same way.
        built = app_manifest or build_manifest(app)
        prints = {(h.handler_id, h.version): h.fingerprint for h in built.handlers}
        rows = []
        for family in app.families.values():
            for (hid, label), manifest in version_manifest(app, family).items():
                v = next(x for x in family.versions if x.label == label)
                rows.append(
                    {
                        "handler_id": hid,
                        "version": label,
                        "tsv": datetime.fromtimestamp(v.tsv_us / 1e6, tz=UTC),
                        "method": family.method,
                        "path": family.path,
                        "code_tags": json.dumps(list(v.tags)),
                        "tags": "[]",
                        "fingerprint": prints[(hid, label)],
                        "manifest": json.dumps(manifest),
                        "status": "active",
                        "registered_at": now,
                        "updated_at": now,
                    }
                )
        if not rows:
            return 0
        stmt = self._insert(handler_versions)
        stmt = stmt.on_conflict_do_update(
            index_elements=["handler_id", "version"],
            set_={
                c: stmt.excluded[c]
                for c in (
                    "tsv",
                    "method",
                    "path",
                    "code_tags",
                    "fingerprint",
                    "manifest",
                    "updated_at",
                )
            },
        )
        with map_store_errors(f"registering the versions of {app.name}"):
            async with self.engine.begin() as conn:
                await conn.execute(stmt, rows)
        return len(rows)

    async def versions(self, handler_id: str | None = None) -> list[VersionRow]:
        q = sa.select(handler_versions).order_by(
            handler_versions.c.handler_id, handler_versions.c.tsv
        )
        if handler_id is not None:
            q = q.where(handler_versions.c.handler_id == handler_id)
        with map_store_errors("reading the version registry"):
            async with self.engine.connect() as conn:
                rows = (await conn.execute(q)).mappings().all()
        return [
            VersionRow(
                r["handler_id"],
                r["version"],
                r["tsv"],
                r["method"],
                r["path"],
                tuple(json.loads(r["code_tags"])),
                tuple(json.loads(r["tags"])),
                r["fingerprint"],
                r["status"],
                json.loads(r["manifest"]),
            )
            for r in rows
        ]

    async def get(self, handler_id: str, version: str) -> VersionRow:
        rows = await self.versions(handler_id)
        if not rows:
            known = sorted({r.handler_id for r in await self.versions()})
            raise TimescapeError(
                f"unknown handler {handler_id!r}; known: "
                f"{', '.join(known) or 'none (has a worker started?)'}"
            )
        for row in rows:
            if row.version == version or version in row.all_tags:
                return row
        raise TimescapeError(
            f"{handler_id} has no version or tag {version!r}; versions: "
            + ", ".join(r.version for r in rows)
        )

    async def usage(
        self, handler_id: str | None = None, now: datetime | None = None
    ) -> dict[tuple[str, str], Usage]:
        now = now or datetime.now(UTC)
        hour, day = now - timedelta(hours=1), now - timedelta(days=1)
        q = (
            sa.select(
                requests.c.handler_id,
                requests.c.version,
                sa.func.count().filter(requests.c.received_at >= hour),
                sa.func.count().filter(requests.c.received_at >= day),
                sa.func.max(requests.c.received_at),
            )
            .where(requests.c.version.is_not(None))
            .group_by(requests.c.handler_id, requests.c.version)
        )
        if handler_id is not None:
            q = q.where(requests.c.handler_id == handler_id)
        with map_store_errors("reading version usage"):
            async with self.engine.connect() as conn:
                rows = (await conn.execute(q)).all()
        out = {}
        for hid, version, h, d, last in rows:
            if isinstance(last, str):  # SQLite hands max() back as text
                last = datetime.fromisoformat(last).replace(tzinfo=UTC)
            out[(hid, version)] = Usage(int(h), int(d), last)
        return out

    async def tag(self, handler_id: str, version: str, tag: str, *, move: bool = False) -> str:
        if not is_tag(tag):
            raise TimescapeError(
                f"tag {tag!r} must start with a letter and use letters, digits, '.', '_' or '-'"
            )
        target = await self.get(handler_id, version)
        for row in await self.versions(handler_id):
            if row.version != target.version and tag in row.all_tags:
                if tag in row.code_tags or not move:
                    raise TimescapeError(
                        f"tag {tag!r} is on version {row.version}; "
                        "use --move to move an operator tag"
                    )
                await self._set_tags(handler_id, row.version, [t for t in row.tags if t != tag])
        if tag not in target.all_tags:
            await self._set_tags(handler_id, target.version, [*target.tags, tag])
        return target.version

    async def untag(self, handler_id: str, tag: str) -> str:
        for row in await self.versions(handler_id):
            if tag in row.code_tags:
                raise TimescapeError(f"tag {tag!r} is declared in code on {row.version}")
            if tag in row.tags:
                await self._set_tags(handler_id, row.version, [t for t in row.tags if t != tag])
                return row.version
        raise TimescapeError(f"no version of {handler_id} has the operator tag {tag!r}")

    async def set_status(
        self,
        handler_id: str,
        version: str,
        status: str,
        *,
        force: bool = False,
        recent: timedelta = timedelta(hours=1),
        protected: Iterable[str] = PROTECTED_TAGS,
    ) -> VersionRow:
        row = await self.get(handler_id, version)
        if status == "inactive" and not force:
            guarded = sorted(set(row.all_tags) & set(protected))
            if guarded:
                raise TimescapeError(
                    f"{row.version} carries protected tag(s) "
                    f"{', '.join(guarded)}; use --force to deactivate"
                )
            use = (await self.usage(handler_id)).get((handler_id, row.version))
            if use is not None and use.last_seen and use.last_seen > datetime.now(UTC) - recent:
                raise TimescapeError(
                    f"{row.version} served requests in the last {recent} "
                    f"(last at {use.last_seen:%Y-%m-%d %H:%M:%S}); "
                    "use --force to deactivate anyway"
                )
        with map_store_errors(f"setting {handler_id} {row.version} {status}"):
            async with self.engine.begin() as conn:
                await conn.execute(
                    handler_versions.update()
                    .where(
                        (handler_versions.c.handler_id == handler_id)
                        & (handler_versions.c.version == row.version)
                    )
                    .values(status=status, updated_at=datetime.now(UTC))
                )
        return row

    async def _set_tags(self, handler_id: str, version: str, tags: list[str]) -> None:
        with map_store_errors(f"tagging {handler_id} {version}"):
            async with self.engine.begin() as conn:
                await conn.execute(
                    handler_versions.update()
                    .where(
                        (handler_versions.c.handler_id == handler_id)
                        & (handler_versions.c.version == version)
                    )
                    .values(tags=json.dumps(sorted(set(tags))), updated_at=datetime.now(UTC))
                )


class CachedVersionState:
    """Operator state for the pipeline, refreshed in the background (never per request).

    A database outage of any length only freezes that state: the last one read keeps
    routing, the refresher keeps trying, and it logs the outage's start and end rather
    than every failed refresh.
    """

    def __init__(self, registry: VersionRegistry, *, refresh_s: float = 2.0) -> None:
        self.registry = registry
        self.refresh_s = refresh_s
        self._inactive: dict[str, set[str]] = {}
        self._tags: dict[str, dict[str, set[str]]] = {}
        self.failing: str | None = None  # why the last refresh failed, while it fails

    def inactive(self, handler_id: str) -> set[str]:
        return self._inactive.get(handler_id, set())

    def tags(self, handler_id: str) -> dict[str, set[str]]:
        return self._tags.get(handler_id, {})

    async def refresh(self) -> None:
        inactive: dict[str, set[str]] = {}
        tags: dict[str, dict[str, set[str]]] = {}
        for row in await self.registry.versions():
            if row.status == "inactive":
                inactive.setdefault(row.handler_id, set()).add(row.version)
            if row.tags:
                tags.setdefault(row.handler_id, {})[row.version] = set(row.tags)
        self._inactive, self._tags = inactive, tags

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # the last known state keeps routing meanwhile
                if self.failing is None:
                    log.warning("version registry refresh failed (routing on the last "
                                "known state, retrying every %.0fs): %s", self.refresh_s, exc)
                self.failing = str(exc)
            else:
                if self.failing is not None:
                    log.warning("version registry refresh works again")
                self.failing = None
            await asyncio.sleep(self.refresh_s)


_SIDES: tuple[tuple[str, Literal["backward", "forward"]], ...] = (
    ("request", "backward"), ("response", "forward"))


def compatibility(handler_id: str, old: VersionRow, new: VersionRow) -> dict[str, Any]:
    """Whether ``new`` breaks ``old``'s clients, for ``gati timescape diff`` and the
    playground alike: the request read backward (new code reads old requests), the response
    forward (old clients read new responses), each by ``gati.types.compare``."""
    sides: dict[str, Any] = {}
    for side, mode in _SIDES:
        a, b = old.manifest.get(side), new.manifest.get(side)
        if a is None or b is None:
            sides[side] = {"mode": mode, "compared": False, "compatible": None, "changes": [],
                           "report": f"{side}: not declared on both versions"}
            continue
        report = compare(GType.from_json(a), GType.from_json(b), mode=mode,
                         namespace=namespace_for("diff", handler_id.rsplit(".", 1)[-1]))
        sides[side] = {"mode": mode, "compared": True, "compatible": report.compatible,
                       "changes": [str(c) for c in report.changes], "report": report.render()}
    return {"handler_id": handler_id, "old": old.version, "new": new.version,
            "breaking": any(v["compatible"] is False for v in sides.values()), **sides}
