"""typed bodies: schemas.codec and requests.body_schema

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24

A request body with a declared type travels on Kafka as Avro, named by a schema-store
id. ``schemas.codec`` keeps what rebuilds the exact decoder for that id (the GType, the
namespace and the root name), so any process can turn the body back into the JSON the
client sent, even one whose code does not declare that type. ``requests.body_schema``
says which schema a recorded body travelled in; the ``body`` column holds its JSON.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("schemas", sa.Column(
        "codec", sa.Text, nullable=True,
        comment="JSON {gtype, namespace, name}: how to decode bodies of this schema"))
    op.add_column("requests", sa.Column(
        "body_schema", sa.Integer, nullable=True,
        comment="schema id the body travelled in on Kafka (body holds its JSON)"))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("body_schema")
    with op.batch_alter_table("schemas") as batch:
        batch.drop_column("codec")
