"""A liaison's recorded check-in greeting: every recording kept as history, at most one current per liaison.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "liaison_greetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("liaison_id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("recording_url", sa.String(length=1000), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kept_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["liaison_id"], ["liaisons.id"], name="fk_liaison_greetings_liaison_id_liaisons"),
        sa.PrimaryKeyConstraint("id", name="pk_liaison_greetings"),
        sa.UniqueConstraint("call_sid", "recording_url", name="uq_liaison_greetings_call_sid"),
    )
    op.create_index("ix_liaison_greetings_liaison_id", "liaison_greetings", ["liaison_id"])
    op.create_index(
        "uq_liaison_greetings_current",
        "liaison_greetings",
        ["liaison_id"],
        unique=True,
        sqlite_where=sa.text("status = 'current'"),
        postgresql_where=sa.text("status = 'current'"),
    )


def downgrade() -> None:
    op.drop_index("uq_liaison_greetings_current", table_name="liaison_greetings")
    op.drop_index("ix_liaison_greetings_liaison_id", table_name="liaison_greetings")
    op.drop_table("liaison_greetings")
