"""Table definitions: the one place the record's shape is written down.

These tables are a user interface (people query them with SQL), so columns are only ever
added. Migrations in ``migrations/versions`` create exactly this shape; a test compares
the two. There are deliberately no foreign keys: requests and lifecycle events arrive on
different topics in any order, and the recorder must accept either first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """``timestamptz`` on Postgres; on SQLite, which keeps no zone, read back as UTC.

    Without it the same query returns aware datetimes on one backend and naive ones on
    the other, and comparisons between them raise.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value  # type: ignore[no-any-return]

requests = sa.Table(
    "requests",
    metadata,
    sa.Column("request_id", sa.Text, primary_key=True),
    sa.Column("received_at", UTCDateTime()),
    sa.Column("method", sa.Text),
    sa.Column("path", sa.Text),
    sa.Column("query", sa.Text),
    sa.Column("headers", sa.Text, comment="JSON array of [name, value]"),
    sa.Column("body", sa.LargeBinary),
    sa.Column("client", sa.Text),
    sa.Column("gateway_id", sa.Text),
    sa.Column("version_pref", sa.Text),
    sa.Column("deadline_at", UTCDateTime()),
    sa.Column("handler_id", sa.Text),
    sa.Column("status", sa.Integer),
    sa.Column("error_code", sa.Text),
    sa.Column("completed_at", UTCDateTime()),
    sa.Column("version", sa.Text),
    sa.Column("body_schema", sa.Integer),
    # Migration 0009: provenance, filled in by the recorder when the request carried it.
    sa.Column("trace_id", sa.Text),
    sa.Column("principal", sa.Text),
    sa.Column("log_topic", sa.Text),
    sa.Column("log_partition", sa.Integer),
    sa.Column("log_offset", sa.BigInteger),
    sa.Index("ix_requests_received_at", "received_at"),
    sa.Index("ix_requests_trace_id", "trace_id"),
    sa.Index("ix_requests_principal", "principal", "received_at"),
    sa.Index("ix_requests_handler_status", "handler_id", "status"),
    sa.Index("ix_requests_handler_version", "handler_id", "version"),
)

lifecycle_events = sa.Table(
    "lifecycle_events",
    metadata,
    sa.Column("request_id", sa.Text, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("stage", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("handler_id", sa.Text),
    sa.Column("status", sa.Integer),
    sa.Column("error_code", sa.Text),
    sa.Column("detail", sa.Text, comment="JSON"),
    sa.Column("worker_id", sa.Text),
    sa.Index("ix_lifecycle_events_at", "at"),
)

handler_versions = sa.Table(
    "handler_versions",
    metadata,
    sa.Column("handler_id", sa.Text, primary_key=True),
    sa.Column("version", sa.Text, primary_key=True),
    sa.Column("tsv", UTCDateTime(), nullable=False),
    sa.Column("method", sa.Text, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("code_tags", sa.Text, nullable=False, comment="JSON array, from code"),
    sa.Column("tags", sa.Text, nullable=False, comment="JSON array, added by operators"),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("manifest", sa.Text, nullable=False, comment="JSON"),
    sa.Column("status", sa.Text, nullable=False, server_default="active"),
    sa.Column("registered_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

# Issue 18 (migration 0007): which request an Idempotency-Key belongs to; the response
# every repeat gets is that request's recorded response.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("scope", sa.Text, primary_key=True),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Index("ix_idempotency_keys_expires_at", "expires_at"),
)

# Issue 18 (migration 0008): fixed-window rate-limit counters shared by every gateway.
rate_limits = sa.Table(
    "rate_limits",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Index("ix_rate_limits_expires_at", "expires_at"),
)
