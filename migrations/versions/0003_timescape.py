"""Timescape registry: handler_versions, and the version that served each request

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handler_versions",
        sa.Column("handler_id", sa.Text, primary_key=True),
        sa.Column("version", sa.Text, primary_key=True),
        sa.Column("tsv", sa.DateTime(timezone=True), nullable=False),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("code_tags", sa.Text, nullable=False, comment="JSON array, from code"),
        sa.Column("tags", sa.Text, nullable=False, comment="JSON array, added by operators"),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("manifest", sa.Text, nullable=False, comment="JSON"),
        sa.Column("status", sa.Text, nullable=False, server_default="active"),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("version", sa.Text))
    op.create_index("ix_requests_handler_version", "requests", ["handler_id", "version"])


def downgrade() -> None:
    op.drop_index("ix_requests_handler_version", "requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("version")
    op.drop_table("handler_versions")
