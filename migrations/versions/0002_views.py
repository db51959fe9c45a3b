"""views for the questions people ask: timeline, effects, slowest, errors, usage

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

The SQL of each view is written out here, per dialect, and never imported from the
package: a migration is history, so it must keep creating exactly what it created the
day it shipped. A later change to a view is a new migration (``CREATE OR REPLACE VIEW``
on PostgreSQL, drop and create on SQLite) that only ever adds columns.

Both dialects return the same columns with the same meaning (docs/tables.md, "Views").
Where they differ:

- JSON-valued columns (``effects.args``, ``kwargs``, ``result``, ``error``) are ``jsonb``
  on PostgreSQL and JSON text on SQLite.
- ``slowest_handlers.p50_ms`` / ``p95_ms`` and ``slowest_hooks.p95_ms`` are NULL on
  SQLite, which has no percentile aggregate; ``avg_ms`` and ``max_ms`` are on both.
- ``version_usage.hour`` is a ``timestamptz`` on PostgreSQL and UTC text in the stored
  format (``YYYY-MM-DD HH:00:00.000000``) on SQLite; ``module_calls.ok`` is a boolean on
  PostgreSQL and 1/0 on SQLite.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Dependants first: module_calls reads effects.
VIEWS = (
    "module_calls",
    "version_usage",
    "errors_by_handler",
    "slowest_hooks",
    "slowest_handlers",
    "effects",
    "request_timeline",
)


class _Dialect:
    """The few expressions that differ between PostgreSQL and SQLite."""

    def __init__(self, name: str) -> None:
        self.pg = name == "postgresql"

    def text(self, field: str, col: str = "detail") -> str:
        """A scalar JSON field as text."""
        if self.pg:
            return f"({col}::jsonb ->> '{field}')"
        return f"json_extract({col}, '$.{field}')"

    def json(self, field: str, col: str = "detail") -> str:
        """A JSON field as JSON (jsonb on PostgreSQL, JSON text on SQLite)."""
        if self.pg:
            return f"({col}::jsonb -> '{field}')"
        return f"({col} -> '$.{field}')"

    def real(self, field: str, col: str = "detail") -> str:
        if self.pg:
            return f"({col}::jsonb ->> '{field}')::float8"
        return f"CAST(json_extract({col}, '$.{field}') AS REAL)"

    def int(self, field: str, col: str = "detail") -> str:
        if self.pg:
            return f"({col}::jsonb ->> '{field}')::int"
        return f"CAST(json_extract({col}, '$.{field}') AS INTEGER)"

    def ms_between(self, later: str, earlier: str) -> str:
        """Milliseconds from ``earlier`` to ``later``, exact to the microsecond."""
        if self.pg:
            return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) * 1000)::float8"
        # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff' text and its date functions round to
        # the millisecond, so whole seconds come from strftime over the text without its
        # fraction, and microseconds from the fraction's digits.
        return f"(({self._epoch_us(later)} - {self._epoch_us(earlier)}) / 1000.0)"

    @staticmethod
    def _epoch_us(col: str) -> str:
        return (
            f"(CAST(strftime('%s', substr({col}, 1, 19)) AS INTEGER) * 1000000"
            f" + CAST(substr(substr({col}, 21) || '000000', 1, 6) AS INTEGER))"
        )

    def percentile(self, fraction: float, expr: str) -> str:
        if self.pg:
            return f"percentile_cont({fraction}) WITHIN GROUP (ORDER BY {expr})"
        return "CAST(NULL AS REAL)"

    def hour(self, col: str) -> str:
        if self.pg:
            return f"(date_trunc('hour', {col} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
        return f"strftime('%Y-%m-%d %H:00:00.000000', {col})"


def _views(d: _Dialect) -> dict[str, str]:
    hook_stages = "('hook_start', 'hook_end', 'hook_error')"
    return {
        # One row per lifecycle step; ms_since_start counts from the request's first step
        # (lowest seq), found through the primary key: min(at) would tempt PostgreSQL to
        # walk the whole ix_lifecycle_events_at index looking for the request.
        "request_timeline": f"""
SELECT e.request_id,
       e.seq,
       e.stage,
       e.at,
       {d.ms_between("e.at", "(SELECT f.at FROM lifecycle_events f "
                               "WHERE f.request_id = e.request_id "
                               "ORDER BY f.seq LIMIT 1)")} AS ms_since_start,
       e.handler_id,
       e.status,
       e.error_code,
       CASE WHEN e.stage IN {hook_stages} THEN {d.text("hook", "e.detail")} END AS hook,
       CASE WHEN e.stage = 'effect' THEN {d.text("module", "e.detail")} END AS module,
       CASE WHEN e.stage = 'effect' THEN {d.text("method", "e.detail")} END AS method,
       e.detail
FROM lifecycle_events e""",
        # Every recorded effect: module calls, clock reads, random draws, ids.
        "effects": f"""
SELECT e.request_id,
       e.seq,
       e.at,
       e.handler_id,
       {d.text("kind", "e.detail")} AS kind,
       {d.text("module", "e.detail")} AS module,
       {d.text("method", "e.detail")} AS method,
       {d.json("args", "e.detail")} AS args,
       {d.json("kwargs", "e.detail")} AS kwargs,
       CASE WHEN {d.text("kind", "e.detail")} = 'module'
            THEN {d.json("result", "e.detail")}
            ELSE {d.json("value", "e.detail")} END AS result,
       {d.json("error", "e.detail")} AS error,
       {d.real("duration_ms", "e.detail")} AS duration_ms,
       {d.int("attempts", "e.detail")} AS attempts
FROM lifecycle_events e
WHERE e.stage = 'effect'""",
        # Handler run time (handler_start -> handler_end) per handler.
        "slowest_handlers": f"""
SELECT r.handler_id,
       count(*) AS count,
       avg(r.ms) AS avg_ms,
       {d.percentile(0.5, "r.ms")} AS p50_ms,
       {d.percentile(0.95, "r.ms")} AS p95_ms,
       max(r.ms) AS max_ms
FROM (SELECT s.handler_id, {d.ms_between("e.at", "s.at")} AS ms
      FROM lifecycle_events s
      JOIN lifecycle_events e ON e.request_id = s.request_id AND e.stage = 'handler_end'
      WHERE s.stage = 'handler_start') r
GROUP BY r.handler_id""",
        # Hook run time from hook_end's duration_ms; errors counts failed attempts.
        "slowest_hooks": f"""
SELECT h.hook,
       h.kind,
       h.level,
       count(h.ms) AS count,
       sum(h.failed) AS errors,
       avg(h.ms) AS avg_ms,
       {d.percentile(0.95, "h.ms")} AS p95_ms,
       max(h.ms) AS max_ms
FROM (SELECT {d.text("hook")} AS hook,
             {d.text("kind")} AS kind,
             {d.text("level")} AS level,
             CASE WHEN stage = 'hook_end' THEN {d.real("duration_ms")} END AS ms,
             CASE WHEN stage = 'hook_error' THEN 1 ELSE 0 END AS failed
      FROM lifecycle_events
      WHERE stage IN ('hook_end', 'hook_error')) h
GROUP BY h.hook, h.kind, h.level""",
        # Answers with status >= 400, by handler, the version it ran, status and code.
        "errors_by_handler": f"""
SELECT r.handler_id,
       v.version,
       r.status,
       r.error_code,
       count(*) AS count,
       max(r.at) AS last_seen
FROM lifecycle_events r
LEFT JOIN (SELECT request_id, {d.text("version")} AS version
           FROM lifecycle_events WHERE stage = 'routed') v
       ON v.request_id = r.request_id
WHERE r.stage = 'responded' AND r.status >= 400
GROUP BY r.handler_id, v.version, r.status, r.error_code""",
        # Routed requests per handler version and UTC hour.
        "version_usage": f"""
SELECT u.handler_id,
       u.version,
       u.hour,
       count(*) AS requests
FROM (SELECT handler_id, {d.text("version")} AS version, {d.hour("at")} AS hour
      FROM lifecycle_events WHERE stage = 'routed') u
GROUP BY u.handler_id, u.version, u.hour""",
        # Module calls only, with ok = no error recorded.
        "module_calls": """
SELECT module,
       method,
       request_id,
       seq,
       at,
       handler_id,
       duration_ms,
       (error IS NULL) AS ok
FROM effects
WHERE kind = 'module'""",
    }


def upgrade() -> None:
    views = _views(_Dialect(op.get_bind().dialect.name))
    for name in reversed(VIEWS):  # dependencies first
        op.execute(f"CREATE VIEW {name} AS{views[name]}")


def downgrade() -> None:
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")
