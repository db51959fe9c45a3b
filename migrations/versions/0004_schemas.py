"""Schema store and manifests: schemas, schema_subjects, manifests

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schemas",
        sa.Column("schema_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.Text, nullable=False, comment="sha256 of the schema JSON"),
        sa.Column("schema", sa.Text, nullable=False, comment="Avro schema, JSON"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("fingerprint", name="uq_schemas_fingerprint"),
    )
    op.create_table(
        "schema_subjects",
        sa.Column("subject", sa.Text, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("schema_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_schema_subjects_schema_id", "schema_subjects", ["schema_id"])
    op.create_table(
        "manifests",
        sa.Column("app", sa.Text, primary_key=True),
        sa.Column("fingerprint", sa.Text, primary_key=True),
        sa.Column("manifest", sa.Text, nullable=False, comment="JSON, gati.manifest/1"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_manifests_app_created_at", "manifests", ["app", "created_at"])


def downgrade() -> None:
    op.drop_table("manifests")
    op.drop_index("ix_schema_subjects_schema_id", "schema_subjects")
    op.drop_table("schema_subjects")
    op.drop_table("schemas")
