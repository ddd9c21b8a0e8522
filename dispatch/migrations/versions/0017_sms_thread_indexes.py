"""A person's SMS thread, in and out, read by their number: an index on each side.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_inbound_messages_from_phone", "inbound_messages", ["from_phone", "received_at"])
    op.create_index("ix_outbound_messages_to_phone", "outbound_messages", ["to_phone", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_outbound_messages_to_phone", table_name="outbound_messages")
    op.drop_index("ix_inbound_messages_from_phone", table_name="inbound_messages")
