"""Tasks staff make: the key of the request that made one (unique, per who sent it) and what that request asked,
so a request repeated makes its task once and a key reused for another request is refused.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("request_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("request_fingerprint", sa.String(length=64), nullable=True))
        batch.create_unique_constraint("uq_tasks_request_key", ["request_key"])


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_constraint("uq_tasks_request_key", type_="unique")
        batch.drop_column("request_fingerprint")
        batch.drop_column("request_key")
