"""gati.cli.render: one line per kind of step, whatever its detail holds."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import click
import pytest

from gati.cli.render import compact, prune_text, summary, timeline_text
from gati.store.store import PruneResult, Timeline, TimelineStep

AT = datetime(2025, 6, 15, 12, tzinfo=UTC)


def step(stage: str, detail: Any = None, *, status: int | None = None,
         error_code: str | None = None, ms: float = 0.0) -> TimelineStep:
    return TimelineStep(0, stage, AT, ms, "h", status, error_code, detail)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(("s", "line"), [
    (step("effect", {"kind": "module", "module": "db", "method": "get", "args": [1],
                     "kwargs": {"fresh": True}, "result": None, "duration_ms": 1.5}),
     "db.get(1, fresh=true) → null · 1.5 ms"),
    (step("effect", {"kind": "uuid", "value": "3f2a"}), 'uuid → "3f2a"'),
    (step("effect", {"kind": "random", "value": 0.25}), "random → 0.25"),
    (step("compensation", {"name": "delete_user", "ok": True}), "delete_user ok"),
    (step("compensation", {"name": "delete_user", "ok": False,
                           "error": {"type": "OSError", "message": "down"}}),
     "delete_user ✗ OSError: down"),
    (step("timeout", {"timeout_s": 0.05}, status=504, error_code="handler_timeout"),
     "504 handler_timeout after 0.05 s"),
    (step("publish", {"scope": "global", "topic": "user.created"}), "global user.created"),
    (step("rejected", status=413, error_code="body_too_large"), "413 body_too_large"),
    (step("responded", {"headers": [], "body_b64": b64(b"")}, status=204), "204 · empty body"),
    (step("responded", {"headers": [], "body_b64": b64(b"\xff\xfe")}, status=200),
     "200 · 2 bytes"),
    (step("responded", status=200), "200"),
    (step("failed", {"message": "no route for GET /x"}, status=404, error_code="not_found"),
     "404 not_found no route for GET /x"),
    (step("something_new", {"a": 1}), '{"a":1}'),
    (step("handler_start"), ""),
])
def test_summary(s: TimelineStep, line: str) -> None:
    assert summary(s) == line


def test_long_values_are_shortened() -> None:
    assert compact("x" * 100, 10) == '"xxxxxxxx…'
    assert len(summary(step("log", {"level": "info", "message": "m" * 500}))) > 160
    tl = Timeline("r", True, "GET", "/", "", None, None, None, AT, AT, None, None, 200, None,
                  1.0, (step("log", {"level": "info", "message": "m" * 500}),))
    assert all(len(line) < 200 for line in click.unstyle(timeline_text(tl)).splitlines())


def test_a_request_with_no_steps() -> None:
    tl = Timeline("r", True, "GET", "/", "", None, None, None, AT, None, None, None, None,
                  None, None, ())
    text = click.unstyle(timeline_text(tl))
    assert text.splitlines()[0] == "GET / → no answer recorded"
    assert text.endswith("(no lifecycle steps recorded)")


def test_prune_text() -> None:
    assert prune_text(PruneResult(AT, 3, 40, 1, dry_run=True)) == (
        "would delete 3 requests and 40 lifecycle events older than "
        "2025-06-15 12:00:00.000 UTC")
    assert prune_text(PruneResult(AT, 3, 40, 2, dry_run=False)).endswith(" in 2 batches")
