"""A task's staff owner (who follows it up), and staff notes the liaison holding the task may read.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("owner_staff_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_tasks_owner_staff_id_staff_users", "staff_users", ["owner_staff_id"], ["id"])
        batch.create_index("ix_tasks_owner_staff_id", ["owner_staff_id"])
    with op.batch_alter_table("task_events") as batch:
        batch.add_column(sa.Column("for_liaison", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("task_events") as batch:
        batch.drop_column("for_liaison")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_owner_staff_id")
        batch.drop_constraint("fk_tasks_owner_staff_id_staff_users", type_="foreignkey")
        batch.drop_column("owner_staff_id")
