"""The ladder: a task's rung, offer deadline, when it was taken and flagged; the provider's error code.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("rung", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("offer_deadline", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_tasks_offer_deadline"), ["offer_deadline"], unique=False)
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.alter_column("rung", server_default=None)
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.add_column(sa.Column("error_code", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.drop_column("error_code")
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_offer_deadline"))
        batch_op.drop_column("offer_deadline")
        batch_op.drop_column("accepted_at")
        batch_op.drop_column("flagged_at")
        batch_op.drop_column("rung")
