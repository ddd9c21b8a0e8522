"""Notices scheduled for later: when one is to start, when it started, and whether it waits, went or was
cancelled. Notices sent before are "started" at their creation.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.add_column(sa.Column("status", sa.String(length=12), nullable=False, server_default="started"))
        batch.add_column(sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_notices_due", ["status", "starts_at"])
    op.execute("UPDATE notices SET started_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.drop_index("ix_notices_due")
        batch.drop_column("started_at")
        batch.drop_column("starts_at")
        batch.drop_column("status")
