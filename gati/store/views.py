"""The SQL views over the record, by name and columns: a user interface, like the tables.

Migrations ``0002`` and ``0005`` create them on PostgreSQL and SQLite (its SQL is frozen there, as a
migration's must be); docs/sql.md documents them and is a tested cookbook of queries
over them. Columns are only ever added: a test checks that each database's views have
exactly these columns, in this order.

The ``effects`` and ``module_calls`` views unpack the ``effect`` steps' detail JSON in
SQL; its shape per ``kind`` is the one ``gati/core/record.py`` writes and reads (one
dataclass per kind, documented in docs/events.md, "Effect details"). ``module``,
``method``, ``args``, ``kwargs``, ``result``, ``error``, ``duration_ms`` and
``attempts`` are a ``ModuleCall``'s (NULL for other kinds), except that ``result``
holds the ``value`` of a ``clock``, ``random`` or ``uuid`` step; a kind's other keys
(a secret's ``name``, a sleep's ``seconds``) are read from ``request_timeline.detail``.
"""

from __future__ import annotations

VIEW_COLUMNS: dict[str, tuple[str, ...]] = {
    "request_timeline": (
        "request_id", "seq", "stage", "at", "ms_since_start", "handler_id", "status",
        "error_code", "hook", "module", "method", "detail",
    ),
    "effects": (
        "request_id", "seq", "at", "handler_id", "kind", "module", "method", "args",
        "kwargs", "result", "error", "duration_ms", "attempts",
    ),
    "module_calls": (
        "module", "method", "request_id", "seq", "at", "handler_id", "duration_ms", "ok",
    ),
    "slowest_handlers": ("handler_id", "count", "avg_ms", "p50_ms", "p95_ms", "max_ms"),
    "slowest_hooks": (
        "hook", "kind", "level", "count", "errors", "avg_ms", "p95_ms", "max_ms",
    ),
    "errors_by_handler": (
        "handler_id", "version", "status", "error_code", "count", "last_seen",
    ),
    "version_usage": ("handler_id", "version", "hour", "requests"),
    # Migration 0005: the snapshot and responded steps in table shape.
    "snapshots": (
        "request_id", "seq", "at", "handler_id", "label", "hook_index", "handler_version",
        "state", "tasks",
    ),
    "responses": (
        "request_id", "seq", "completed_at", "handler_id", "status", "error_code", "headers",
        "body_b64",
    ),
}

VIEWS: tuple[str, ...] = tuple(VIEW_COLUMNS)
