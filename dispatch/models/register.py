"""The register (底册): communities, grids, directory entries, liaisons, households, residents, phones.

Nobody is ever deleted: a resident who leaves is marked moved away.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dispatch.models.base import Base, UTCDateTime, utcnow


class ResidentCategory(enum.StrEnum):
    """Why a resident is on the register. A resident may have several."""

    ELDERLY_ALONE = "elderly_alone"  # 独居老人
    DISABLED = "disabled"  # 残疾
    CHRONICALLY_ILL = "chronically_ill"  # 慢性病
    PREGNANT = "pregnant"  # 孕妇
    CHILD = "child"  # 儿童
    UNDER_OBSERVATION = "under_observation"  # 居家观察
    OTHER = "other"  # 其他


class Channel(enum.StrEnum):
    """How the hotline reaches a resident."""

    SMS = "sms"  # check-ins and feedback by SMS
    VOICE = "voice"  # by automated call: landlines, and residents who cannot read SMS


class RiskColour(enum.StrEnum):
    """The risk colours of the 五色动态监管图: red is the most urgent."""

    RED = "red"
    ORANGE = "orange"
    YELLOW = "yellow"
    GREEN = "green"
    NONE = "none"


class ResidentStatus(enum.StrEnum):
    """Whether the hotline contacts a resident. Residents are never deleted."""

    # On the register and contacted every day.
    ACTIVE = "active"
    # Temporarily not contacted (in hospital, staying with family).
    PAUSED = "paused"
    # Asked not to be contacted. Their own calls and messages are still answered.
    OPTED_OUT = "opted_out"
    # No longer lives here. Kept for the record.
    MOVED_AWAY = "moved_away"


class LiaisonRole(enum.StrEnum):
    """What a liaison is, besides a liaison."""

    VOLUNTEER = "volunteer"  # 志愿者
    GRID_WORKER = "grid_worker"  # 网格员
    BUILDING_LEAD = "building_lead"  # 楼栋长


class DirectoryKind(enum.StrEnum):
    """Numbers the hotline reads out to callers."""

    HOSPITAL = "hospital"  # 医院
    HEALTH_CENTRE = "health_centre"  # 社区卫生服务中心
    PHARMACY = "pharmacy"  # 药店


class Community(Base):
    """A residential community (社区), with its duty phone and clerk."""

    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str | None] = mapped_column(String(64))  # None: HOTLINE_TIMEZONE
    duty_phone: Mapped[str | None] = mapped_column(String(20))
    clerk_name: Mapped[str | None] = mapped_column(String(100))
    clerk_phone: Mapped[str | None] = mapped_column(String(20))
    # The gateway its SMS and its calls go through (twilio, tencent, android, local; calls also "none"), chosen
    # among those the hotline is set up with. None: the hotline's own, HOTLINE_GATEWAY and HOTLINE_CALL_GATEWAY.
    sms_gateway: Mapped[str | None] = mapped_column(String(16))
    call_gateway: Mapped[str | None] = mapped_column(String(16))

    grids: Mapped[list[Grid]] = relationship(back_populates="community", order_by="Grid.name")
    directory: Mapped[list[DirectoryEntry]] = relationship(back_populates="community", order_by="DirectoryEntry.id")


class Grid(Base):
    """An area of a community (网格), with a grid leader."""

    __tablename__ = "grids"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"))
    name: Mapped[str] = mapped_column(String(100))
    leader_name: Mapped[str | None] = mapped_column(String(100))
    leader_phone: Mapped[str | None] = mapped_column(String(20))

    community: Mapped[Community] = relationship(back_populates="grids")

    __table_args__ = (UniqueConstraint("community_id", "name"),)


class DirectoryEntry(Base):
    """A hospital, health centre or pharmacy number of a community, for the hotline to read out."""

    __tablename__ = "directory_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    kind: Mapped[DirectoryKind] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(20))

    community: Mapped[Community] = relationship(back_populates="directory")


class Liaison(Base):
    """A volunteer or grid worker who takes errands by SMS."""

    __tablename__ = "liaisons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # Unique when present. A liaison without a phone cannot be reached; `hotline assign` lists them.
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    role: Mapped[LiaisonRole] = mapped_column(String(20), default=LiaisonRole.VOLUNTEER)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    grid: Mapped[Grid | None] = relationship()


class Household(Base):
    """The residents at one address, with their one primary liaison and optional backup."""

    __tablename__ = "households"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Address parts may be unknown (None); an address with unknown parts never matches another.
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"))
    building: Mapped[str | None] = mapped_column(String(40))
    unit: Mapped[str | None] = mapped_column(String(40))
    room: Mapped[str | None] = mapped_column(String(40))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"))
    primary_liaison_id: Mapped[int | None] = mapped_column(ForeignKey("liaisons.id"), index=True)
    backup_liaison_id: Mapped[int | None] = mapped_column(ForeignKey("liaisons.id"), index=True)

    community: Mapped[Community | None] = relationship()
    grid: Mapped[Grid | None] = relationship()
    primary_liaison: Mapped[Liaison | None] = relationship(foreign_keys=[primary_liaison_id])
    backup_liaison: Mapped[Liaison | None] = relationship(foreign_keys=[backup_liaison_id])
    residents: Mapped[list[Resident]] = relationship(back_populates="household", order_by="Resident.id")

    __table_args__ = (UniqueConstraint("community_id", "building", "unit", "room"),)


class Resident(Base):
    """A person in the register."""

    __tablename__ = "residents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)  # ResidentCategory values, sorted
    language: Mapped[str] = mapped_column(String(10), default="zh-CN")
    channel: Mapped[Channel] = mapped_column(String(8), default=Channel.SMS)
    risk: Mapped[RiskColour] = mapped_column(String(8), default=RiskColour.NONE)
    emergency_contact_name: Mapped[str | None] = mapped_column(String(100))
    emergency_contact_phone: Mapped[str | None] = mapped_column(String(20))
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ResidentStatus] = mapped_column(String(16), default=ResidentStatus.ACTIVE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    household: Mapped[Household] = relationship(back_populates="residents")
    phones: Mapped[list[ResidentPhone]] = relationship(
        back_populates="resident", order_by="ResidentPhone.position", cascade="all, delete-orphan"
    )

    @property
    def phone(self) -> str | None:
        """The first number: the one the hotline uses first."""
        return self.phones[0].phone if self.phones else None

    @property
    def liaison(self) -> Liaison | None:
        """The household's primary liaison."""
        return self.household.primary_liaison


class ResidentPhone(Base):
    """One number of a resident. Two residents may share one (a couple with one phone)."""

    __tablename__ = "resident_phones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    phone: Mapped[str] = mapped_column(String(20), index=True)  # E.164
    position: Mapped[int] = mapped_column(Integer, default=0)  # 0 is the one to try first
    landline: Mapped[bool] = mapped_column(Boolean, default=False)  # cannot receive SMS

    resident: Mapped[Resident] = relationship(back_populates="phones")

    __table_args__ = (UniqueConstraint("resident_id", "phone"),)
