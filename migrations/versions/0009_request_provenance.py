"""requests: where a request came from and who sent it (trace, principal, log position)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

So a user can go from a trace to ``gati history`` and back (trace_id), list what one
caller did (principal), and find the exact Kafka message a row was recorded from
(log_topic, log_partition, log_offset). All nullable: rows recorded before this
revision, and requests that carried none of it, have nothing to say there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("trace_id", sa.Text, "W3C trace id (32 hex) of the request's trace"),
    ("principal", sa.Text, "the authenticated caller's subject, if any"),
    ("log_topic", sa.Text, "the topic the request was recorded from"),
    ("log_partition", sa.Integer, "its partition"),
    ("log_offset", sa.BigInteger, "its offset"),
)


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        for name, type_, comment in _COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True, comment=comment))
    op.create_index("ix_requests_trace_id", "requests", ["trace_id"])
    op.create_index("ix_requests_principal", "requests", ["principal", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_requests_principal", "requests")
    op.drop_index("ix_requests_trace_id", "requests")
    with op.batch_alter_table("requests") as batch:
        for name, _type, _comment in reversed(_COLUMNS):
            batch.drop_column(name)
