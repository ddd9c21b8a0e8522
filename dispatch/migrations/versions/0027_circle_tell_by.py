"""How a care-circle contact is told: by SMS (as before) or by an automated call.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("circle_contacts") as batch:
        batch.add_column(sa.Column("tell_by", sa.String(8), nullable=False, server_default="sms"))


def downgrade() -> None:
    with op.batch_alter_table("circle_contacts") as batch:
        batch.drop_column("tell_by")
