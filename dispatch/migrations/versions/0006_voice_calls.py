"""The voice hotline: a row per call, and choices made on calls stored as inbound messages.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("from_phone", sa.String(length=20), nullable=False),
        sa.Column("to_phone", sa.String(length=20), nullable=False),
        sa.Column("caller_kind", sa.String(length=10), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("household_id", sa.Integer(), nullable=True),
        sa.Column("liaison_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("chose", sa.Boolean(), nullable=False),
        sa.Column("task_made", sa.Boolean(), nullable=False),
        sa.Column("dial_attempts", sa.Integer(), nullable=False),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.Column("voicemail", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"], name=op.f("fk_calls_household_id_households")),
        sa.ForeignKeyConstraint(["liaison_id"], ["liaisons.id"], name=op.f("fk_calls_liaison_id_liaisons")),
        sa.ForeignKeyConstraint(["resident_id"], ["residents.id"], name=op.f("fk_calls_resident_id_residents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("call_sid", name=op.f("uq_calls_call_sid")),
    )
    op.create_index("ix_calls_started_at", "calls", ["started_at"], unique=False)
    with op.batch_alter_table("inbound_messages") as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=8), nullable=False, server_default="sms"))
        batch_op.add_column(sa.Column("need", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("recording_url", sa.Text(), nullable=True))
    with op.batch_alter_table("inbound_messages") as batch_op:
        batch_op.alter_column("channel", server_default=None)
        batch_op.alter_column("urgent", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("inbound_messages") as batch_op:
        batch_op.drop_column("recording_url")
        batch_op.drop_column("urgent")
        batch_op.drop_column("need")
        batch_op.drop_column("channel")
    op.drop_index("ix_calls_started_at", table_name="calls")
    op.drop_table("calls")
