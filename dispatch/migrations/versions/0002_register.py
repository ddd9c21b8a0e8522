"""The register: communities, grids, households, shared phone numbers, directory entries.

Existing residents each get a household of their own (address unknown) whose primary liaison is the
liaison they had, and their one number moves to resident_phones.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import phonenumbers
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "communities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("duty_phone", sa.String(length=20), nullable=True),
        sa.Column("clerk_name", sa.String(length=100), nullable=True),
        sa.Column("clerk_phone", sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_communities")),
        sa.UniqueConstraint("name", name=op.f("uq_communities_name")),
    )
    op.create_table(
        "grids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("leader_name", sa.String(length=100), nullable=True),
        sa.Column("leader_phone", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"], name=op.f("fk_grids_community_id_communities")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grids")),
        sa.UniqueConstraint("community_id", "name", name=op.f("uq_grids_community_id")),
    )
    op.create_table(
        "directory_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_directory_entries_community_id_communities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_entries")),
    )
    with op.batch_alter_table("directory_entries") as batch_op:
        batch_op.create_index(batch_op.f("ix_directory_entries_community_id"), ["community_id"], unique=False)

    with op.batch_alter_table("liaisons") as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=20), nullable=False, server_default="volunteer"))
        batch_op.add_column(sa.Column("grid_id", sa.Integer(), nullable=True))
        batch_op.alter_column("phone", existing_type=sa.String(length=20), nullable=True)
        batch_op.create_foreign_key(batch_op.f("fk_liaisons_grid_id_grids"), "grids", ["grid_id"], ["id"])
    with op.batch_alter_table("liaisons") as batch_op:
        batch_op.alter_column("role", server_default=None)

    op.create_table(
        "households",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.Column("building", sa.String(length=40), nullable=True),
        sa.Column("unit", sa.String(length=40), nullable=True),
        sa.Column("room", sa.String(length=40), nullable=True),
        sa.Column("grid_id", sa.Integer(), nullable=True),
        sa.Column("primary_liaison_id", sa.Integer(), nullable=True),
        sa.Column("backup_liaison_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["backup_liaison_id"], ["liaisons.id"], name=op.f("fk_households_backup_liaison_id_liaisons")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_households_community_id_communities")
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["grids.id"], name=op.f("fk_households_grid_id_grids")),
        sa.ForeignKeyConstraint(
            ["primary_liaison_id"], ["liaisons.id"], name=op.f("fk_households_primary_liaison_id_liaisons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_households")),
        sa.UniqueConstraint("community_id", "building", "unit", "room", name=op.f("uq_households_community_id")),
    )
    with op.batch_alter_table("households") as batch_op:
        batch_op.create_index(batch_op.f("ix_households_primary_liaison_id"), ["primary_liaison_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_households_backup_liaison_id"), ["backup_liaison_id"], unique=False)

    op.create_table(
        "resident_phones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("landline", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_resident_phones_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident_phones")),
        sa.UniqueConstraint("resident_id", "phone", name=op.f("uq_resident_phones_resident_id")),
    )
    with op.batch_alter_table("resident_phones") as batch_op:
        batch_op.create_index(batch_op.f("ix_resident_phones_phone"), ["phone"], unique=False)

    with op.batch_alter_table("residents") as batch_op:
        batch_op.add_column(sa.Column("household_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("categories", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("channel", sa.String(length=8), nullable=False, server_default="sms"))
        batch_op.add_column(sa.Column("risk", sa.String(length=8), nullable=False, server_default="none"))
        batch_op.add_column(sa.Column("emergency_contact_name", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("emergency_contact_phone", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("notes", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("status", sa.String(length=16), nullable=False, server_default="active"))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("household_id", sa.Integer(), nullable=True))
        batch_op.alter_column("resident_id", existing_type=sa.Integer(), nullable=True)

    # Data: one household per existing resident, keeping their liaison; their number moves to resident_phones.
    conn = op.get_bind()
    residents = sa.table(
        "residents",
        sa.column("id", sa.Integer),
        sa.column("phone", sa.String),
        sa.column("liaison_id", sa.Integer),
        sa.column("household_id", sa.Integer),
        sa.column("created_at", sa.DateTime),
        sa.column("updated_at", sa.DateTime),
    )
    households = sa.table("households", sa.column("id", sa.Integer), sa.column("primary_liaison_id", sa.Integer))
    phones = sa.table(
        "resident_phones",
        sa.column("resident_id", sa.Integer),
        sa.column("phone", sa.String),
        sa.column("position", sa.Integer),
        sa.column("landline", sa.Boolean),
    )
    tasks = sa.table("tasks", sa.column("resident_id", sa.Integer), sa.column("household_id", sa.Integer))
    for row in conn.execute(sa.select(residents.c.id, residents.c.phone, residents.c.liaison_id)).all():
        household_id = conn.execute(
            households.insert().values(primary_liaison_id=row.liaison_id).returning(households.c.id)
        ).scalar_one()
        conn.execute(residents.update().where(residents.c.id == row.id).values(household_id=household_id))
        conn.execute(
            phones.insert().values(resident_id=row.id, phone=row.phone, position=0, landline=_is_landline(row.phone))
        )
        conn.execute(tasks.update().where(tasks.c.resident_id == row.id).values(household_id=household_id))
    conn.execute(residents.update().values(updated_at=residents.c.created_at))
    # A landline cannot receive SMS: those residents are reached by voice from now on.
    residents_with_channel = sa.table("residents", sa.column("id", sa.Integer), sa.column("channel", sa.String))
    landline_ids = sa.select(phones.c.resident_id).where(phones.c.landline == sa.true())
    conn.execute(
        residents_with_channel.update().where(residents_with_channel.c.id.in_(landline_ids)).values(channel="voice")
    )

    with op.batch_alter_table("residents") as batch_op:
        batch_op.alter_column("household_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("updated_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        for column in ("categories", "channel", "risk", "notes", "status"):
            batch_op.alter_column(column, server_default=None)
        batch_op.drop_constraint("fk_residents_liaison_id_liaisons", type_="foreignkey")
        batch_op.drop_constraint("uq_residents_phone", type_="unique")
        batch_op.drop_column("liaison_id")
        batch_op.drop_column("phone")
        batch_op.create_index(batch_op.f("ix_residents_household_id"), ["household_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_residents_household_id_households"), "households", ["household_id"], ["id"]
        )
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.create_index(batch_op.f("ix_tasks_household_id"), ["household_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_tasks_household_id_households"), "households", ["household_id"], ["id"]
        )


def _is_landline(phone: str) -> bool:
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.FIXED_LINE)


def downgrade() -> None:
    raise NotImplementedError("0002 moves data into new tables; restore a backup taken before upgrading instead")
