"""The phones of SMS Gateway for Android: when each was last heard from, and what it was given today.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "android_phones",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("given_on", sa.Date(), nullable=True),
        sa.Column("given", sa.Integer(), nullable=False),
        sa.Column("last_heard_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_event", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_android_phones")),
    )


def downgrade() -> None:
    op.drop_table("android_phones")
