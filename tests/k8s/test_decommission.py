"""Timescape on Kubernetes: the operator retires versions cold past the policy, in the
real Postgres store, and lists active / cold / deactivated versions in the status."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gati.k8s.render import migration_job_name
from gati.operator.kube import Kube
from gati.store.store import open_store
from gati.store.tables import handler_versions, requests
from tests.k8s.kube_support import app_resource, finish_pod, get_app, put_secrets, wait_until

pytestmark = pytest.mark.timeout(300)
NOW = datetime.now(UTC)


async def seed(url: str) -> None:
    store = await open_store(url, migrate_first=True)

    def version(v: str, days: int, tags: list[str]) -> dict[str, Any]:
        at = NOW - timedelta(days=days)
        return {"handler_id": "orders.create", "version": v, "tsv": at, "method": "POST",
                "path": "/orders", "code_tags": "[]", "tags": json.dumps(tags),
                "fingerprint": v, "manifest": "{}", "status": "active", "registered_at": at,
                "updated_at": at}

    try:
        async with store.engine.begin() as conn:
            await conn.execute(handler_versions.insert(), [
                version("v1", 40, []), version("v2", 30, ["stable"]), version("v3", 2, [])])
            await conn.execute(requests.insert(), [
                {"request_id": "r-old", "received_at": NOW - timedelta(days=20),
                 "handler_id": "orders.create", "version": "v1", "method": "POST",
                 "path": "/orders"},
                {"request_id": "r-new", "received_at": NOW - timedelta(hours=1),
                 "handler_id": "orders.create", "version": "v3", "method": "POST",
                 "path": "/orders"}])
    finally:
        await store.close()


async def statuses(url: str) -> dict[str, str]:
    store = await open_store(url)
    try:
        async with store.engine.connect() as conn:
            rows = (await conn.execute(sa.select(handler_versions.c.version,
                                                 handler_versions.c.status))).all()
    finally:
        await store.close()
    return {v: s for v, s in rows}


async def test_a_cold_version_is_deactivated_and_a_protected_one_is_not(
    kube: Kube, namespace: str, operator, fresh_pg_database: str, tmp_path: Path
) -> None:
    await seed(fresh_pg_database)
    await put_secrets(kube, namespace, url=fresh_pg_database)
    operator(interval_s=1.0)
    await kube.apply(app_resource(namespace, timescape={"decommission": {
        "enabled": True, "coldAfter": "7d", "protectedTags": ["stable"]}}))
    await finish_pod(kube, namespace, migration_job_name("shop", "registry.example.com/shop:1.0.0"))

    async def retired() -> Any:
        versions = ((await get_app(kube, namespace)).get("status") or {}).get("versions") or {}
        return versions.get("deactivated") and versions

    versions = await wait_until(retired, 120, "the status lists a deactivated version")
    assert [d["version"] for d in versions["deactivated"]] == ["v1"]
    assert "no request for 20d, past the policy's 7d" in versions["deactivated"][0]["reason"]
    assert "deactivated by the operator" in versions["deactivated"][0]["reason"]
    cold = {c["version"]: c["reason"] for c in versions["cold"]}
    assert "protected by tag stable" in cold["v2"]
    assert [a["version"] for a in versions["active"]] == ["v3"]
    assert await statuses(fresh_pg_database) == {"v1": "inactive", "v2": "active", "v3": "active"}
    # No connection string reaches the resource, nor the operator's log.
    assert "gati_t_" not in json.dumps(await get_app(kube, namespace))
    log = (tmp_path / "operator.log").read_text()
    assert "converge" in log  # the log is the operator's, and it says what it did
    assert fresh_pg_database.split("@")[0] not in log  # user:password
