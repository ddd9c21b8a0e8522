"""Daily check-ins: plans, one row per scheduled contact, its events; outbound rows know their check-in.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkin_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("times", sa.JSON(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["resident_id"], ["residents.id"], name=op.f("fk_checkin_plans_resident_id_residents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_plans")),
        sa.UniqueConstraint("resident_id", name=op.f("uq_checkin_plans_resident_id")),
    )
    op.create_table(
        "checkins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=True),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("slot", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rung", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminder_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("visit_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_message_id", sa.Integer(), nullable=True),
        sa.Column("calls_placed", sa.Integer(), nullable=False),
        sa.Column("calls_left", sa.Integer(), nullable=False),
        sa.Column("next_call_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_call_result", sa.String(length=16), nullable=True),
        sa.Column("visit_task_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["answer_message_id"], ["inbound_messages.id"], name=op.f("fk_checkins_answer_message_id_inbound_messages")
        ),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"], name=op.f("fk_checkins_household_id_households")),
        sa.ForeignKeyConstraint(["resident_id"], ["residents.id"], name=op.f("fk_checkins_resident_id_residents")),
        sa.ForeignKeyConstraint(["visit_task_id"], ["tasks.id"], name=op.f("fk_checkins_visit_task_id_tasks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkins")),
        sa.UniqueConstraint("resident_id", "local_date", "slot", name=op.f("uq_checkins_resident_id")),
    )
    op.create_index("ix_checkins_status_due", "checkins", ["status", "due_at"], unique=False)
    op.create_index("ix_checkins_local_date", "checkins", ["local_date"], unique=False)
    op.create_index("ix_checkins_next_call", "checkins", ["next_call_at"], unique=False)
    op.create_table(
        "checkin_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checkin_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["checkin_id"], ["checkins.id"], name=op.f("fk_checkin_events_checkin_id_checkins")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_events")),
    )
    op.create_index(op.f("ix_checkin_events_checkin_id"), "checkin_events", ["checkin_id"], unique=False)
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.add_column(sa.Column("checkin_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("call_result", sa.String(length=16), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_outbound_messages_checkin_id_checkins"), "checkins", ["checkin_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.drop_constraint("fk_outbound_messages_checkin_id_checkins", type_="foreignkey")
        batch_op.drop_column("call_result")
        batch_op.drop_column("checkin_id")
    op.drop_index(op.f("ix_checkin_events_checkin_id"), table_name="checkin_events")
    op.drop_table("checkin_events")
    op.drop_index("ix_checkins_next_call", table_name="checkins")
    op.drop_index("ix_checkins_local_date", table_name="checkins")
    op.drop_index("ix_checkins_status_due", table_name="checkins")
    op.drop_table("checkins")
    op.drop_table("checkin_plans")
