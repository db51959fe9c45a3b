"""rate limits: fixed-window counters every gateway shares

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

One row per (route, principal | ip | tenant, window): the count so far and when the
window ends. Gateways increment it with one atomic upsert, so a client alternating
between gateways is counted once (docs/decisions.md, "Rate limits across gateways").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.Text, primary_key=True,
                  comment="limits' key: route, what is counted (digested) and the limit"),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False,
                  comment="Unix epoch seconds when the window ends"),
    )
    op.create_index("ix_rate_limits_expires_at", "rate_limits", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_rate_limits_expires_at", "rate_limits")
    op.drop_table("rate_limits")
