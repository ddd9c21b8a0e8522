"""A task's circle (task_offers: every phone it was offered to or alerted about) and its due-by time.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("due_by", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "task_offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("liaison_id", sa.Integer(), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("rung", sa.Integer(), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["liaison_id"], ["liaisons.id"], name=op.f("fk_task_offers_liaison_id_liaisons")),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_task_offers_task_id_tasks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_offers")),
        sa.UniqueConstraint("task_id", "phone", name=op.f("uq_task_offers_task_id")),
    )
    with op.batch_alter_table("task_offers") as batch_op:
        batch_op.create_index(batch_op.f("ix_task_offers_task_id"), ["task_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_task_offers_liaison_id"), ["liaison_id"], unique=False)
    # Tasks offered before this keep working: their assignee is their circle until the next offer.
    op.execute(
        "INSERT INTO task_offers (task_id, liaison_id, phone, rung, offered_at) "
        "SELECT tasks.id, liaisons.id, liaisons.phone, tasks.rung, tasks.updated_at FROM tasks "
        "JOIN liaisons ON liaisons.id = tasks.assignee_liaison_id "
        "WHERE tasks.status IN ('offered', 'escalated') AND liaisons.phone IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("task_offers") as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_offers_liaison_id"))
        batch_op.drop_index(batch_op.f("ix_task_offers_task_id"))
    op.drop_table("task_offers")
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("due_by")
