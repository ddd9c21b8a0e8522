"""Messages from numbers not on the register reach staff: a triage item per number, and each message's item.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "triage_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("open_phone", sa.String(length=20), nullable=True),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_triage_items_community_id_communities")
        ),
        sa.ForeignKeyConstraint(["resident_id"], ["residents.id"], name=op.f("fk_triage_items_resident_id_residents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_items")),
        sa.UniqueConstraint("open_phone", name=op.f("uq_triage_items_open_phone")),
    )
    op.create_index(op.f("ix_triage_items_phone"), "triage_items", ["phone"], unique=False)
    op.create_index(op.f("ix_triage_items_community_id"), "triage_items", ["community_id"], unique=False)
    # Messages stored before this stay outside any item: `hotline inbox --unregistered` still lists them.
    with op.batch_alter_table("inbound_messages") as batch_op:
        batch_op.add_column(sa.Column("triage_item_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_inbound_messages_triage_item_id_triage_items"), "triage_items", ["triage_item_id"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_inbound_messages_triage_item_id"), ["triage_item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbound_messages") as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_messages_triage_item_id"))
        batch_op.drop_constraint("fk_inbound_messages_triage_item_id_triage_items", type_="foreignkey")
        batch_op.drop_column("triage_item_id")
    op.drop_index(op.f("ix_triage_items_community_id"), table_name="triage_items")
    op.drop_index(op.f("ix_triage_items_phone"), table_name="triage_items")
    op.drop_table("triage_items")
