"""A household's access notes for visits: who holds a key, the door code, a short note.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "household_access",
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("key_holder_name", sa.String(30), nullable=True),
        sa.Column("key_holder_relation", sa.String(10), nullable=True),
        sa.Column("key_holder_phone", sa.String(20), nullable=True),
        sa.Column("door_code", sa.String(16), nullable=True),
        sa.Column("notes", sa.String(40), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name="fk_household_access_household_id_households"
        ),
        sa.PrimaryKeyConstraint("household_id", name="pk_household_access"),
    )


def downgrade() -> None:
    op.drop_table("household_access")
