"""snapshots and responses views over lifecycle_events

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24

Snapshots and responses are lifecycle steps (``snapshot`` and ``responded``); these views
give them the table shape people query. Written out per dialect, like 0002.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _sql(dialect: str) -> list[str]:
    if dialect == "postgresql":
        t = "(detail::jsonb ->> '{}')"
        j = "(detail::jsonb -> '{}')"
    else:
        t = "json_extract(detail, '$.{}')"
        j = "json_extract(detail, '$.{}')"
    return [
        f"""CREATE VIEW snapshots AS
SELECT request_id, seq, at, handler_id,
       {t.format('label')} AS label,
       CAST({t.format('hook_index')} AS INTEGER) AS hook_index,
       {t.format('handler_version')} AS handler_version,
       {j.format('state')} AS state,
       {j.format('tasks')} AS tasks
FROM lifecycle_events WHERE stage = 'snapshot'""",
        f"""CREATE VIEW responses AS
SELECT request_id, seq, at AS completed_at, handler_id, status, error_code,
       {j.format('headers')} AS headers,
       {t.format('body_b64')} AS body_b64
FROM lifecycle_events WHERE stage = 'responded'""",
    ]


def upgrade() -> None:
    for statement in _sql(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS responses")
    op.execute("DROP VIEW IF EXISTS snapshots")
