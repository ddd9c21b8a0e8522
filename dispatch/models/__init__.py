"""The durable store: SQLAlchemy models, one module per area. The database is the truth; Redis only carries work."""

from dispatch.models.base import NAMING_CONVENTION, Base, UTCDateTime, clock_span, utcnow
from dispatch.models.checkins import (
    CHECKIN_WAITING,
    Checkin,
    CheckinEvent,
    CheckinPlan,
    CheckinRung,
    CheckinStatus,
)
from dispatch.models.circle_contacts import CircleContact, ConsentWay
from dispatch.models.console import ApiToken, AuditEntry, Notice
from dispatch.models.messages import (
    InboundMessage,
    InboundOutcome,
    LocalOutboxEntry,
    OutboundMessage,
    OutboundStatus,
    WebhookReceipt,
)
from dispatch.models.register import (
    Channel,
    Community,
    DirectoryEntry,
    DirectoryKind,
    Grid,
    Household,
    Liaison,
    LiaisonRole,
    Resident,
    ResidentCategory,
    ResidentPhone,
    ResidentStatus,
    RiskColour,
)
from dispatch.models.sms_phones import AndroidPhone
from dispatch.models.staff_users import StaffRole, StaffUser
from dispatch.models.tasks import (
    Task,
    TaskCategory,
    TaskEvent,
    TaskEventKind,
    TaskOffer,
    TaskPriority,
    TaskStatus,
    TemperatureReading,
)
from dispatch.models.triage import TriageItem, TriageStatus
from dispatch.models.voice_calls import Call

__all__ = [
    "CHECKIN_WAITING",
    "NAMING_CONVENTION",
    "AndroidPhone",
    "ApiToken",
    "AuditEntry",
    "Base",
    "Call",
    "Channel",
    "Checkin",
    "CheckinEvent",
    "CheckinPlan",
    "CheckinRung",
    "CheckinStatus",
    "CircleContact",
    "Community",
    "ConsentWay",
    "DirectoryEntry",
    "DirectoryKind",
    "Grid",
    "Household",
    "InboundMessage",
    "InboundOutcome",
    "Liaison",
    "LiaisonRole",
    "LocalOutboxEntry",
    "Notice",
    "OutboundMessage",
    "OutboundStatus",
    "Resident",
    "ResidentCategory",
    "ResidentPhone",
    "ResidentStatus",
    "RiskColour",
    "StaffRole",
    "StaffUser",
    "Task",
    "TaskCategory",
    "TaskEvent",
    "TaskEventKind",
    "TaskOffer",
    "TaskPriority",
    "TaskStatus",
    "TemperatureReading",
    "TriageItem",
    "TriageStatus",
    "UTCDateTime",
    "WebhookReceipt",
    "clock_span",
    "utcnow",
]
