"""requests and lifecycle_events

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "requests",
        sa.Column("request_id", sa.Text, primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True)),
        sa.Column("method", sa.Text),
        sa.Column("path", sa.Text),
        sa.Column("query", sa.Text),
        sa.Column("headers", sa.Text, comment="JSON array of [name, value]"),
        sa.Column("body", sa.LargeBinary),
        sa.Column("client", sa.Text),
        sa.Column("gateway_id", sa.Text),
        sa.Column("version_pref", sa.Text),
        sa.Column("deadline_at", sa.DateTime(timezone=True)),
        sa.Column("handler_id", sa.Text),
        sa.Column("status", sa.Integer),
        sa.Column("error_code", sa.Text),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_requests_received_at", "requests", ["received_at"])
    op.create_index("ix_requests_handler_status", "requests", ["handler_id", "status"])
    op.create_table(
        "lifecycle_events",
        sa.Column("request_id", sa.Text, primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("stage", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handler_id", sa.Text),
        sa.Column("status", sa.Integer),
        sa.Column("error_code", sa.Text),
        sa.Column("detail", sa.Text, comment="JSON"),
        sa.Column("worker_id", sa.Text),
    )
    op.create_index("ix_lifecycle_events_at", "lifecycle_events", ["at"])


def downgrade() -> None:
    op.drop_table("lifecycle_events")
    op.drop_table("requests")
