"""Staff accounts: who may sign in to the console, with which role, over which part of the register."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base, UTCDateTime, utcnow


class StaffRole(enum.StrEnum):
    ADMIN = "admin"  # everything, every community
    CLERK = "clerk"  # their community's residents, tasks, calls and notices
    GRID_LEADER = "grid_leader"  # their grid


class StaffUser(Base):
    """A person who signs in to the console. The password is stored only as an argon2id hash."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)  # stored lower-case
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[StaffRole] = mapped_column(String(16))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"))  # a clerk's community
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"))  # a grid leader's grid
    language: Mapped[str] = mapped_column(String(10), default="zh-CN")  # the console's language for them
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Carried in each session cookie at sign-in; signing out adds one, which ends every session made before.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @property
    def audit_ref(self) -> str:
        """How the audit log names this account."""
        return f"staff:{self.id}"

    @property
    def audit_name(self) -> str:
        return self.display_name
