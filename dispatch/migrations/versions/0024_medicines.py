"""Medicines a resident takes, and the medicine tasks that covered each refill cycle.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "medicines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("dose", sa.String(200), nullable=False),
        sa.Column("days_supply", sa.Integer(), nullable=False),
        sa.Column("last_refill", sa.Date(), nullable=True),
        sa.Column("runs_out_on", sa.Date(), nullable=True),
        sa.Column("lead_days", sa.Integer(), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_key", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["resident_id"], ["residents.id"], name=op.f("fk_medicines_resident_id_residents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medicines")),
        sa.UniqueConstraint("request_key", name=op.f("uq_medicines_request_key")),
    )
    op.create_index("ix_medicines_resident_id", "medicines", ["resident_id"])
    op.create_index("ix_medicines_runs_out_on", "medicines", ["runs_out_on"])
    op.create_table(
        "medicine_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("medicine_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("runs_out_on", sa.Date(), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refilled_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["medicine_id"], ["medicines.id"], name=op.f("fk_medicine_tasks_medicine_id_medicines")
        ),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_medicine_tasks_task_id_tasks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medicine_tasks")),
        sa.UniqueConstraint("medicine_id", "runs_out_on", name=op.f("uq_medicine_tasks_medicine_id")),
    )
    op.create_index("ix_medicine_tasks_task_id", "medicine_tasks", ["task_id"])


def downgrade() -> None:
    op.drop_index("ix_medicine_tasks_task_id", table_name="medicine_tasks")
    op.drop_table("medicine_tasks")
    op.drop_index("ix_medicines_runs_out_on", table_name="medicines")
    op.drop_index("ix_medicines_resident_id", table_name="medicines")
    op.drop_table("medicines")
