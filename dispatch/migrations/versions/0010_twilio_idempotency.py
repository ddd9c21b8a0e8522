"""Twilio's idempotency token counts: unique on inbound messages, and receipts of answered voice webhooks.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Before the index: a token stored twice (never expected: each retry had the same SID) keeps its first row's.
    op.execute(
        "UPDATE inbound_messages SET idempotency_token = NULL WHERE idempotency_token IS NOT NULL AND id NOT IN "
        "(SELECT MIN(id) FROM inbound_messages WHERE idempotency_token IS NOT NULL GROUP BY idempotency_token)"
    )
    op.create_index("ix_inbound_messages_idempotency_token", "inbound_messages", ["idempotency_token"], unique=True)
    op.create_table(
        "webhook_receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=128), nullable=False),
        sa.Column("path", sa.String(length=64), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_receipts")),
        sa.UniqueConstraint("token", name=op.f("uq_webhook_receipts_token")),
    )
    op.create_index("ix_webhook_receipts_created_at", "webhook_receipts", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_webhook_receipts_created_at", table_name="webhook_receipts")
    op.drop_table("webhook_receipts")
    op.drop_index("ix_inbound_messages_idempotency_token", table_name="inbound_messages")
