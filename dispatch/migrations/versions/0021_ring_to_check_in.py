"""Ring to check in: a resident's ring mode, and the rings counted (one per CallSid).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ring_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["resident_id"], ["residents.id"], name=op.f("fk_ring_settings_resident_id_residents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ring_settings")),
        sa.UniqueConstraint("resident_id", name=op.f("uq_ring_settings_resident_id")),
    )
    op.create_table(
        "rings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("how", sa.String(12), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("checkin_id", sa.Integer(), nullable=True),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["resident_id"], ["residents.id"], name=op.f("fk_rings_resident_id_residents")),
        sa.ForeignKeyConstraint(["checkin_id"], ["checkins.id"], name=op.f("fk_rings_checkin_id_checkins")),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_rings_task_id_tasks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rings")),
        sa.UniqueConstraint("call_sid", name=op.f("uq_rings_call_sid")),
    )
    op.create_index("ix_rings_resident_at", "rings", ["resident_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_rings_resident_at", table_name="rings")
    op.drop_table("rings")
    op.drop_table("ring_settings")
