"""Old records are users' data: golden records of the users example still load and replay.

``tests/golden/users-v1.json`` holds ``requests`` and ``lifecycle_events`` rows written by
``gati dev`` at the commit named in its header (``tests/golden/make_golden.py`` made
them). They are loaded as rows into a freshly migrated store, never re-recorded, so a
change to how the record is read (types, stages, the read model, replay) that no longer
understands what was written before fails here. Do not regenerate the file to make this
test pass: that would throw away the very records it protects.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gati.cli.loader import load_app
from gati.replay import Replayer
from gati.store import Store, open_store

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "users-v1.json"
TABLES = ("requests", "lifecycle_events")


def _golden() -> dict[str, Any]:
    golden: dict[str, Any] = json.loads(GOLDEN.read_text())
    return golden


def _value(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        at = datetime.fromisoformat(value)
        return at if at.tzinfo else at.replace(tzinfo=UTC)
    if kind == "bytes":
        return base64.b64decode(value)
    return value


@pytest.fixture
async def golden_store(tmp_path: Path) -> AsyncIterator[tuple[Store, dict[str, Any]]]:
    """A store at today's schema holding exactly the golden rows."""
    golden = _golden()
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path}/golden.db", migrate_first=True)
    try:
        # The tables as the migrations make them now (reflected: no import of the module
        # that defines them, which may move).
        meta = sa.MetaData()
        async with store.engine.begin() as conn:
            await conn.run_sync(lambda sync: meta.reflect(sync, only=list(TABLES)))
            for name in TABLES:
                table = meta.tables[name]
                kinds: dict[str, str] = golden["column_types"][name]
                lost = sorted(set(kinds) - set(table.c.keys()))
                assert not lost, f"{name} lost columns users' records have: {lost}"
                rows = [{c: _value(kinds[c], v) for c, v in row.items()}
                        for row in golden["tables"][name]]
                await conn.execute(table.insert(), rows)
        yield store, golden
    finally:
        await store.close()


def test_the_golden_file_covers_the_shapes() -> None:
    golden = _golden()
    rows = golden["tables"]["requests"]
    assert len(rows) == len(golden["sent"]) >= 20
    assert {r["status"] for r in rows} >= {200, 201, 204, 400, 404, 409}
    assert {r["version"] for r in rows} >= {"2025-01-01", "2025-06-01", None}
    assert {r["method"] for r in rows} == {"GET", "POST", "PATCH", "DELETE"}
    stages = Counter(e["stage"] for e in golden["tables"]["lifecycle_events"])
    assert stages["snapshot"] and stages["effect"] and stages["failed"]


async def test_golden_records_replay_identically(
    golden_store: tuple[Store, dict[str, Any]],
) -> None:
    store, golden = golden_store
    ids = [r["request_id"] for r in golden["tables"]["requests"]]
    app = load_app(golden["app"])
    batch = await Replayer(app=app, engine=store.engine).replay_many(ids)
    problems = [f"{r.request_id} ({r.recorded_status}): "
                f"{r.divergence.message if r.divergence else r.error}"
                for r in (*batch.diverged, *batch.failed)]
    assert not problems, (
        f"{len(problems)} of {batch.total} golden records (commit {golden['commit'][:12]}) "
        "did not replay identically:\n" + "\n".join(problems))
    assert sorted(batch.identical) == sorted(ids)


async def test_golden_records_load_through_the_read_model(
    golden_store: tuple[Store, dict[str, Any]],
) -> None:
    store, golden = golden_store
    steps = Counter(e["request_id"] for e in golden["tables"]["lifecycle_events"])
    for row in golden["tables"]["requests"]:
        rid = row["request_id"]
        timeline = await store.timeline(rid)
        assert timeline is not None, rid
        got = (timeline.status, len(timeline.steps), timeline.method, timeline.path,
               timeline.handler_id, timeline.version, timeline.error_code)
        want = (row["status"], steps[rid], row["method"], row["path"],
                row["handler_id"], row["version"], row["error_code"])
        assert got == want, rid
        assert timeline.recorded_envelope and timeline.answered, rid
        assert [s.seq for s in timeline.steps] == sorted(s.seq for s in timeline.steps), rid
