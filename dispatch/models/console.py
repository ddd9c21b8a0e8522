"""What the console and the API keep: the audit log, API tokens, and notices (防控信息) sent to many people."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base, UTCDateTime, utcnow


class AuditEntry(Base):
    """Who viewed or changed which resident, task or notice, and when. Never holds a phone number or a health
    detail: `detail` names what changed (fields, a category), not its content."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))  # "staff:3" or "token:2"
    actor_name: Mapped[str] = mapped_column(String(100))  # as it was when they acted
    action: Mapped[str] = mapped_column(String(32))  # view, edit, assign, note, close, cancel, triage, import, …
    object_kind: Mapped[str] = mapped_column(String(16))  # resident, task, notice, register, call
    object_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        Index("ix_audit_log_object", "object_kind", "object_id"),
        Index("ix_audit_log_at", "at"),
    )


class ApiToken(Base):
    """A bearer token for `/api/v1`. Only a SHA-256 of the token is stored; `prefix` names it in lists. Tokens
    made before expiry existed have no `expires_at`: they never expire (revoke them, or make new ones)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # a StaffRole
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # refused from then on; None: never

    @property
    def audit_ref(self) -> str:
        """How the audit log names this token."""
        return f"token:{self.id}"

    @property
    def audit_name(self) -> str:
        return f"API {self.name}"


class Notice(Base):
    """A notice (防控信息) to a community, a grid or a category of residents, by SMS and/or call. Each copy is an
    OutboundMessage with `notice_id` set, keyed `notice:<id>:<channel>:<phone>`, so its progress is a count."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    channels: Mapped[str] = mapped_column(String(8))  # sms, call, or both
    target_kind: Mapped[str] = mapped_column(String(16))  # community, grid, category
    target: Mapped[str] = mapped_column(String(100))  # its name (a category's key)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"))
    recipients: Mapped[int] = mapped_column(Integer, default=0)  # messages decided when it was sent
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # "scheduled" (waits for starts_at; no copy decided yet), "started" (its copies decided), or "cancelled".
    status: Mapped[str] = mapped_column(String(12), default="started", server_default="started")
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the time asked for; None: at once
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when its copies were decided

    __table_args__ = (Index("ix_notices_due", "status", "starts_at"),)
