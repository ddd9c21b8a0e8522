"""Absences: a resident away (in hospital, with family, travelling) until a return date, and their
welcome-back call.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "absences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("return_on", sa.Date(), nullable=False),
        sa.Column("tell_family", sa.Boolean(), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=False),
        sa.Column("set_by_name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_key", sa.String(length=64), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=100), nullable=True),
        sa.Column("end_reason", sa.String(length=16), nullable=True),
        sa.Column("return_call", sa.String(length=16), nullable=False),
        sa.Column("return_checkin_id", sa.Integer(), nullable=True),
        sa.Column("return_task_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["resident_id"], ["residents.id"], name="fk_absences_resident_id_residents"),
        sa.ForeignKeyConstraint(["return_checkin_id"], ["checkins.id"], name="fk_absences_return_checkin_id_checkins"),
        sa.ForeignKeyConstraint(["return_task_id"], ["tasks.id"], name="fk_absences_return_task_id_tasks"),
        sa.PrimaryKeyConstraint("id", name="pk_absences"),
        sa.UniqueConstraint("request_key", name="uq_absences_request_key"),
    )
    op.create_index("ix_absences_resident_id", "absences", ["resident_id"])
    op.create_index("ix_absences_running", "absences", ["ended_at", "return_on"])
    op.create_index("ix_absences_return_call", "absences", ["return_call"])


def downgrade() -> None:
    op.drop_index("ix_absences_return_call", table_name="absences")
    op.drop_index("ix_absences_running", table_name="absences")
    op.drop_index("ix_absences_resident_id", table_name="absences")
    op.drop_table("absences")
