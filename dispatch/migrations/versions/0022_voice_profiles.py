"""A resident's profile for hearing and memory: slower, louder, said twice, short menus, an SMS copy of a call.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voice_profiles",
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("slower", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("louder", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("twice", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("short_menus", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("sms_copy", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_voice_profiles_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("resident_id", name=op.f("pk_voice_profiles")),
    )


def downgrade() -> None:
    op.drop_table("voice_profiles")
