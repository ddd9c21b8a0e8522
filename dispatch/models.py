"""The durable store: SQLAlchemy models. The database is the truth; Redis only carries work.

The register (底册): communities split into grids; households at addresses, each with one primary liaison
and optionally a backup; residents in households, with one or more phone numbers. Nobody is ever deleted:
a resident who leaves is marked moved away.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints, so migrations can alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Now, timezone-aware, in UTC. Every stored time is UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use dispatch.models.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class InboundOutcome(enum.StrEnum):
    """What processing an inbound SMS came to."""

    # A task was made for the sender's resident record and offered to their liaison.
    TASK_CREATED = "task_created"
    # The sender is not in the register: one polite reply, no task; staff see the message.
    UNKNOWN_SENDER = "unknown_sender"
    # The sender is a registered resident with no active liaison: the task waits for staff.
    NO_LIAISON = "no_liaison"
    # The number is shared by residents of different households, so we cannot tell whose need it is:
    # a task for a clerk to sort out.
    AMBIGUOUS_SENDER = "ambiguous_sender"
    # A resident saying they are fine (and perhaps their temperature): nothing to do.
    FINE = "fine"
    # A resident sent a stop word: no more automated messages; their liaison is asked to call them.
    OPTED_OUT = "opted_out"
    # A resident sent a start word: automated messages resume.
    OPTED_IN = "opted_in"
    # The sender is a liaison: a command about their tasks (take, done, hand back, note, list), always answered.
    FROM_LIAISON = "from_liaison"


class TaskCategory(enum.StrEnum):
    """What a resident needs. `other` is for a clerk to triage."""

    GROCERIES = "groceries"
    MEDICINE = "medicine"
    RUBBISH = "rubbish"
    PARCEL = "parcel"
    UNWELL = "unwell"
    VISIT = "visit"
    CALLBACK = "callback"
    OTHER = "other"


class TaskStatus(enum.StrEnum):
    """Where a task is in the loop 收集—分流—接单—反馈."""

    # Made from a resident's message; nobody has been asked to take it yet.
    NEW = "new"
    # Sent to a liaison, who has not yet replied.
    OFFERED = "offered"
    # A liaison has taken it and is on it.
    ACCEPTED = "accepted"
    # Finished; the resident has been told.
    DONE = "done"
    # The liaison handed it back.
    DECLINED = "declined"
    # Nobody took it in time; it climbed the ladder.
    ESCALATED = "escalated"
    # Staff cancelled it; it needs nothing more.
    CANCELLED = "cancelled"


class TaskPriority(enum.StrEnum):
    """How soon a task must be taken."""

    # Unwell, a fever, or no answer to a check-in: shorter deadline, and duty staff hear at once.
    URGENT = "urgent"
    NORMAL = "normal"


class OutboundStatus(enum.StrEnum):
    """The life of one outbound SMS, from our decision to send it to the phone network's last word."""

    # Decided and stored; not yet handed to the gateway.
    PENDING = "pending"
    # A worker has claimed it and is handing it to the gateway now.
    SENDING = "sending"
    # The gateway accepted it (Twilio: queued/sent).
    SENT = "sent"
    # The phone network says it reached the handset.
    DELIVERED = "delivered"
    # The phone network could not deliver it.
    UNDELIVERED = "undelivered"
    # The gateway refused it for good (bad number, blocked); it will not be retried.
    FAILED = "failed"
    # A worker died while handing it over, so we cannot know whether it went. Never resent automatically:
    # a duplicate errand SMS is worse than the ladder noticing nobody took the task.
    UNKNOWN = "unknown"


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


class InboundMessage(Base):
    """One SMS that reached the hotline, stored before anything else happens to it."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Twilio's MessageSid: a retried webhook carries the same one, so it is stored once.
    provider_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_phone: Mapped[str] = mapped_column(String(20))
    to_phone: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    idempotency_token: Mapped[str | None] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"))
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[InboundOutcome | None] = mapped_column(String(32))

    __table_args__ = (Index("ix_inbound_messages_unprocessed", "processed_at", "received_at"),)


class Task(Base):
    """One need of one resident."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    # None: the need came from a number several residents share, so it is the household's (see README).
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"))
    category: Mapped[TaskCategory] = mapped_column(String(20))
    priority: Mapped[TaskPriority] = mapped_column(String(8), default=TaskPriority.NORMAL)
    status: Mapped[TaskStatus] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text, default="")
    assignee_liaison_id: Mapped[int | None] = mapped_column(ForeignKey("liaisons.id"))
    source_message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    # The ladder: 0 primary liaison, 1 backup liaison, 2 grid leader, 3 duty staff (the last rung).
    rung: Mapped[int] = mapped_column(Integer, default=0)
    # When the current offer lapses if nobody has taken it; None once taken, or on the last rung.
    offer_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set once when a taken task is still not done by the day's done-by time: staff should look.
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    household: Mapped[Household | None] = relationship()
    resident: Mapped[Resident | None] = relationship()
    assignee: Mapped[Liaison | None] = relationship()
    events: Mapped[list[TaskEvent]] = relationship(back_populates="task", order_by="TaskEvent.id")

    # One message makes at most one task of each kind, however often it is processed.
    __table_args__ = (UniqueConstraint("source_message_id", "category"),)


class TaskEvent(Base):
    """One change to a task: who, when, through which channel. This is the audit trail."""

    __tablename__ = "task_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # created, offered, …
    actor: Mapped[str] = mapped_column(String(64))  # "resident:12", "liaison:3", "system"
    channel: Mapped[str] = mapped_column(String(16))  # sms, voice, console, system
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    detail: Mapped[str] = mapped_column(Text, default="")

    task: Mapped[Task] = relationship(back_populates="events")


class OutboundMessage(Base):
    """An SMS or automated call the hotline decided to make. Stored first (the transactional outbox), then handed
    to the gateway. A call's body is what it says; the call fetches it from `/twilio/voice/message?o=<id>`."""

    __tablename__ = "outbound_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Names the reason for the message, e.g. "task:7:offer:0". A second decision to send the same thing is a no-op.
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    to_phone: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(8), default="sms")  # sms, or call
    language: Mapped[str] = mapped_column(String(10), default="zh-CN")  # what a call speaks
    status: Mapped[OutboundStatus] = mapped_column(String(16), default=OutboundStatus.PENDING)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    error_code: Mapped[int | None] = mapped_column(Integer)  # Twilio's ErrorCode, e.g. 30003 unreachable
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_outbound_messages_status", "status", "created_at"),)


class LocalOutboxEntry(Base):
    """What the local gateway was asked to send: the phone network of a laptop or a test."""

    __tablename__ = "local_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # sms or call
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    to_phone: Mapped[str] = mapped_column(String(20))
    from_ref: Mapped[str] = mapped_column(String(64))  # our number or messaging service
    body: Mapped[str] = mapped_column(Text)  # the SMS text, or the TwiML URL of a call
    status_callback: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="sent")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TemperatureReading(Base):
    """A body temperature a resident reported, in °C."""

    __tablename__ = "temperature_readings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"))
    # One reading per message: a retried job records it once.
    message_id: Mapped[int] = mapped_column(ForeignKey("inbound_messages.id"), unique=True)
    celsius: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
