"""Automated calls in the outbox: a kind and a spoken language on outbound messages.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=8), nullable=False, server_default="sms"))
        batch_op.add_column(sa.Column("language", sa.String(length=10), nullable=False, server_default="zh-CN"))
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.alter_column("kind", server_default=None)
        batch_op.alter_column("language", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.drop_column("language")
        batch_op.drop_column("kind")
