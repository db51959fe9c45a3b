"""idempotency keys: which request an Idempotency-Key belongs to

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

One row per (principal, route, key) scope, claimed by the first gateway to insert it.
The stored response is not copied here: it is the recorded response of ``request_id``
(the record already holds every response), so a key works across gateways and across a
worker that died during the first attempt (it is resumed, and its answer recorded).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.Text, primary_key=True,
                  comment="sha256 of principal, method, path and the key (never the key)"),
        sa.Column("fingerprint", sa.Text, nullable=False,
                  comment="sha256 of the first request's method, path and body"),
        sa.Column("request_id", sa.Text, nullable=False,
                  comment="the request whose recorded response answers every repeat"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_expires_at", "idempotency_keys")
    op.drop_table("idempotency_keys")
