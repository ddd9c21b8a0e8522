"""Sign-out ends sessions (a staff account's session epoch) and API tokens expire (expires_at; none: never).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every account starts at 0; a session cookie made before this carries no epoch and is refused (sign in again).
    with op.batch_alter_table("staff_users") as batch_op:
        batch_op.add_column(sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False))
    # Tokens made before keep no expiry: they never expire.
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("staff_users") as batch_op:
        batch_op.drop_column("session_epoch")
