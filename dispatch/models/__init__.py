"""The durable store: SQLAlchemy models, one module per area. The database is the truth; Redis only carries work."""

from dispatch.models.absences import Absence, AbsenceEnd, AbsenceReason, ReturnCall
from dispatch.models.access import HouseholdAccess
from dispatch.models.base import NAMING_CONVENTION, Base, UTCDateTime, clock_span, utcnow
from dispatch.models.checkins import (
    CHECKIN_WAITING,
    Checkin,
    CheckinEvent,
    CheckinPlan,
    CheckinRung,
    CheckinStatus,
)
from dispatch.models.circle_contacts import CircleContact, ConsentWay, TellBy
from dispatch.models.console import ApiToken, AuditEntry, Notice
from dispatch.models.greetings import LiaisonGreeting
from dispatch.models.medicines import Medicine, MedicineTask
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
from dispatch.models.rings import Ring, RingMode, RingSetting
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
from dispatch.models.voice_profiles import VoiceProfile

__all__ = [
    "CHECKIN_WAITING",
    "NAMING_CONVENTION",
    "Absence",
    "AbsenceEnd",
    "AbsenceReason",
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
    "HouseholdAccess",
    "InboundMessage",
    "InboundOutcome",
    "Liaison",
    "LiaisonGreeting",
    "LiaisonRole",
    "LocalOutboxEntry",
    "Medicine",
    "MedicineTask",
    "Notice",
    "OutboundMessage",
    "OutboundStatus",
    "Resident",
    "ResidentCategory",
    "ResidentPhone",
    "ResidentStatus",
    "ReturnCall",
    "Ring",
    "RingMode",
    "RingSetting",
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
    "TellBy",
    "TemperatureReading",
    "TriageItem",
    "TriageStatus",
    "UTCDateTime",
    "VoiceProfile",
    "WebhookReceipt",
    "clock_span",
    "utcnow",
]
