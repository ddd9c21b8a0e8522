"""Task priority, and temperature readings.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("priority", sa.String(length=8), nullable=False, server_default="normal"))
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.alter_column("priority", server_default=None)
    op.create_table(
        "temperature_readings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("household_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("celsius", sa.Float(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_temperature_readings_household_id_households")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["inbound_messages.id"], name=op.f("fk_temperature_readings_message_id_inbound_messages")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_temperature_readings_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_temperature_readings")),
        sa.UniqueConstraint("message_id", name=op.f("uq_temperature_readings_message_id")),
    )
    with op.batch_alter_table("temperature_readings") as batch_op:
        batch_op.create_index(batch_op.f("ix_temperature_readings_resident_id"), ["resident_id"], unique=False)


def downgrade() -> None:
    op.drop_table("temperature_readings")
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("priority")
