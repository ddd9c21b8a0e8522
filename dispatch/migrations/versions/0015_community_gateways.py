"""Each community's own channels: the gateway for its SMS and the one for its calls; and which gateway carried each
message in and out, for the channels page.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("communities") as batch:
        batch.add_column(sa.Column("sms_gateway", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("call_gateway", sa.String(length=16), nullable=True))
    with op.batch_alter_table("outbound_messages") as batch:
        batch.add_column(sa.Column("gateway", sa.String(length=16), nullable=True))
    with op.batch_alter_table("inbound_messages") as batch:
        batch.add_column(sa.Column("gateway", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbound_messages") as batch:
        batch.drop_column("gateway")
    with op.batch_alter_table("outbound_messages") as batch:
        batch.drop_column("gateway")
    with op.batch_alter_table("communities") as batch:
        batch.drop_column("call_gateway")
        batch.drop_column("sms_gateway")
