"""A resident's care circle: family contacts, the resident's consent to telling them, and their opt-out.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "circle_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("relation", sa.String(length=40), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("consent_way", sa.String(length=16), nullable=True),
        sa.Column("consent_by", sa.String(length=100), nullable=True),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("request_key", sa.String(length=80), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_circle_contacts_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circle_contacts")),
        sa.UniqueConstraint("request_key", name=op.f("uq_circle_contacts_request_key")),
    )
    op.create_index(op.f("ix_circle_contacts_phone"), "circle_contacts", ["phone"], unique=False)
    op.create_index(op.f("ix_circle_contacts_resident_id"), "circle_contacts", ["resident_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_circle_contacts_resident_id"), table_name="circle_contacts")
    op.drop_index(op.f("ix_circle_contacts_phone"), table_name="circle_contacts")
    op.drop_table("circle_contacts")
