"""The schemas of the OpenAPI document: what each answer and body of /api/v1 holds."""

from __future__ import annotations

from typing import Any

from dispatch.checkins.report import COLUMNS
from dispatch.models import (
    Channel,
    ResidentCategory,
    ResidentStatus,
    RiskColour,
    TaskCategory,
    TaskStatus,
    TriageStatus,
)
from dispatch.register.edit import LANGUAGES

Json = dict[str, Any]

STRING: Json = {"type": "string"}
INT: Json = {"type": "integer"}
BOOL: Json = {"type": "boolean"}
NUMBER: Json = {"type": "number"}
TIME: Json = {"type": "string", "format": "date-time"}
DATE: Json = {"type": "string", "format": "date"}


def ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def array(items: Json) -> Json:
    return {"type": "array", "items": items}


def nullable(schema: Json) -> Json:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(**properties: Json) -> Json:
    """An object with these properties, all of them always present."""
    return {"type": "object", "properties": properties, "required": list(properties)}


def some(required: list[str], **properties: Json) -> Json:
    """An object with these properties, of which only `required` are always present."""
    return {"type": "object", "properties": properties, "required": required}


COUNTS: Json = {"type": "object", "additionalProperties": INT, "description": "A count per key."}


STATUS = {"enum": [str(s) for s in TaskStatus]}
CATEGORY = {"enum": [str(c) for c in TaskCategory]}
TASK = obj(id=INT, category=CATEGORY, priority={"enum": ["urgent", "normal"]}, status=STATUS, rung=INT,
           resident=STRING, grid=STRING, liaison=STRING, created_at=TIME, updated_at=TIME)  # fmt: skip
HISTORY_ITEM = obj(at=TIME, kind={"enum": ["event", "outbound", "inbound", "call"]}, what=STRING, who=STRING,
                   channel=STRING, detail=STRING)  # fmt: skip
TASK_DETAIL = {"allOf": [ref("Task"), obj(
    description=STRING, household_id=nullable(INT), resident_id=nullable(INT), assignee_id=nullable(INT),
    offer_deadline=nullable(TIME), accepted_at=nullable(TIME), history=array(ref("HistoryItem")),
    voicemails=array(ref("Voicemail")),
)]}  # fmt: skip
VOICEMAIL = obj(
    message_id=INT,
    received_at=TIME,
    audio_url={
        "type": "string",
        "format": "uri",
        "description": "The hotline's URL for the audio (GET with the same token).",
    },
)
COVERAGE_ROW = obj(community=STRING, grid=STRING, **dict.fromkeys(COLUMNS, INT), known_percent=NUMBER)
RESIDENT_DAY = obj(resident_id=INT, name=STRING, community=STRING, grid=STRING, standing=STRING, slot=STRING,
                   rung=INT, visit_task_id=nullable(INT))  # fmt: skip
BOARD_TASK = obj(
    id=INT,
    category=CATEGORY,
    urgent=BOOL,
    status=STATUS,
    rung=INT,
    resident=STRING,
    grid=STRING,
    liaison=STRING,
    age_minutes=INT,
    escalated_recently=BOOL,
    flagged=BOOL,
)
BOARD = obj(
    day=DATE,
    now=TIME,
    coverage=array(ref("CoverageRow")),
    total=ref("CoverageRow"),
    attention=array(ref("ResidentDay")),
    open_tasks=array(ref("BoardTask")),
    triage=array(ref("TriageRow")),
    at_risk=array(ref("AtRisk")),
)
AT_RISK = obj(
    resident_id=INT,
    resident=STRING,
    grid=STRING,
    liaison=STRING,
    reason={"enum": ["no_answer", "unread_reply"]},
    task_id=nullable(INT),
    rung=nullable(INT),
    deadline=TIME,
    minutes_left=INT,
    late=BOOL,
)
LIAISON = obj(id=INT, name=STRING, phone=STRING, role=STRING, grid_id=nullable(INT))
TEXT_OR_NONE = nullable(STRING)
RESIDENT_ROW = obj(
    id=INT, name=STRING, phone={"type": "string", "description": "Masked, e.g. 138****8000."}, landline=BOOL,
    community=TEXT_OR_NONE, building=TEXT_OR_NONE, unit=TEXT_OR_NONE, room=TEXT_OR_NONE, address=STRING,
    grid=TEXT_OR_NONE, liaison=TEXT_OR_NONE, backup_liaison=TEXT_OR_NONE, channel={"enum": list(Channel)},
    categories=array({"enum": list(ResidentCategory)}), risk={"enum": list(RiskColour)},
    status={"enum": list(ResidentStatus)},
)  # fmt: skip
LIAISON_LINE = nullable(obj(id=INT, name=STRING, phone=TEXT_OR_NONE, active=BOOL))
RESIDENT = obj(
    id=INT, name=STRING, phones=array(obj(phone=STRING, landline=BOOL)), language=STRING, channel=STRING,
    categories=array(STRING), risk=STRING, status=STRING, emergency_contact_name=TEXT_OR_NONE,
    emergency_contact_phone=TEXT_OR_NONE, notes=STRING, created_at=TIME, updated_at=TIME, household_id=INT,
    community=TEXT_OR_NONE, building=TEXT_OR_NONE, unit=TEXT_OR_NONE, room=TEXT_OR_NONE, address=STRING,
    grid=TEXT_OR_NONE, grid_leader=TEXT_OR_NONE, liaison=LIAISON_LINE, backup_liaison=LIAISON_LINE,
    housemates=array({"type": "array", "prefixItems": [INT, STRING], "description": "[id, name]"}),
)  # fmt: skip
PLAN = nullable(some(["own", "times", "channel"], own=BOOL, times=array(STRING), channel=TEXT_OR_NONE,
                    starts_on=nullable(DATE), ends_on=nullable(DATE), note=STRING, updated_by=TEXT_OR_NONE,
                    updated_at=nullable(TIME)))  # fmt: skip
HISTORY = obj(
    resident=ref("Resident"), own_plan=PLAN, plan_today=PLAN, since=TIME,
    checkins=array(obj(id=INT, local_date=DATE, slot=STRING, channel=STRING, status=STRING, rung=INT, due_at=TIME,
                       sent_at=nullable(TIME), answered_at=nullable(TIME), calls_placed=INT,
                       last_call_result=TEXT_OR_NONE, visit_task_id=nullable(INT))),
    readings=array(obj(at=TIME, celsius=NUMBER)),
    tasks=array(obj(id=INT, category=STRING, priority=STRING, status=STRING, created_at=TIME, assignee=TEXT_OR_NONE,
                    household_only=BOOL)),
    calls=array(obj(at=TIME, direction={"enum": ["in", "out"]}, kind=STRING, outcome=TEXT_OR_NONE,
                    duration_seconds=nullable(INT), connected=BOOL, task_made=BOOL, voicemail=BOOL)),
)  # fmt: skip
LIST_OR_TEXT = {"anyOf": [STRING, array(STRING)], "description": "A list, or one string with separators."}
CHANGES = {**some(
    [], name=STRING, phones=LIST_OR_TEXT, language={"enum": list(LANGUAGES)}, channel={"enum": list(Channel)},
    categories=LIST_OR_TEXT, risk={"enum": list(RiskColour)}, emergency_contact_name=TEXT_OR_NONE,
    emergency_contact_phone=TEXT_OR_NONE, notes=STRING, status={"enum": list(ResidentStatus)},
), "minProperties": 1, "additionalProperties": False}  # fmt: skip
DURATIONS = obj(count=INT, median_minutes=nullable(NUMBER), p90_minutes=nullable(NUMBER))
COMMUNITY_DAY = obj(community=STRING, checkins=COUNTS, standings=COUNTS, known_percent=nullable(NUMBER),
                    tasks=COUNTS, tasks_total=INT, to_accept=DURATIONS, to_done=DURATIONS,
                    escalations=INT)  # fmt: skip
DAILY = obj(day=DATE, timezone=STRING, as_of=TIME, empty=BOOL, communities=array(ref("CommunityDay")),
            total=ref("CommunityDay"),
            accept_histogram=array(obj(lower_minutes=INT, upper_minutes=nullable(INT), count=INT)))  # fmt: skip

STAGES = obj(pending=INT, sent=INT, delivered=INT, failed=INT, total=INT)
NOTICE_PREVIEW = obj(
    target_kind=STRING, target=STRING, channels=STRING, residents=INT, sms=INT, calls=INT,
    skipped={"type": "object", "additionalProperties": INT, "description": "residents left out, by reason"},
    encoding={"enum": ["GSM-7", "UCS-2"]}, characters=INT, segments=INT, sms_per_second=NUMBER,
    calls_per_second=NUMBER, problems=array(obj(code=STRING, message=STRING, fields={"type": "object"})),
    body_limit=INT, seconds=NUMBER, sms_seconds=NUMBER, call_seconds=NUMBER, ok=BOOL, sms_segments=INT,
    sms_unlimited=BOOL, calls_unlimited=BOOL,
)  # fmt: skip
NOTICE_PROGRESS = obj(
    id=INT, body=STRING, channels=STRING, target_kind=STRING, target=STRING, community=TEXT_OR_NONE,
    recipients=INT, created_at=TIME, sent_by=STRING, done=BOOL,
    counts={"type": "object", "additionalProperties": STAGES, "description": "sms / call → copies by stage"},
)  # fmt: skip

TRIAGE_STATUS = {"enum": [str(s) for s in TriageStatus]}
TRIAGE_ROW = obj(
    id=INT,
    phone={"type": "string", "description": "Masked, e.g. 137****0001."},
    community=STRING,
    status=TRIAGE_STATUS,
    messages=INT,
    voicemails=INT,
    last_said=STRING,
    created_at=TIME,
    updated_at=TIME,
    age_minutes=INT,
)
TRIAGE_MESSAGE = obj(
    id=INT,
    received_at=TIME,
    channel={"enum": ["sms", "voice"]},
    body=STRING,
    need=TEXT_OR_NONE,
    voicemail=BOOL,
    outcome=TEXT_OR_NONE,
    task_ids=array(INT),
    audio_url=nullable({"type": "string", "format": "uri", "description": "A voicemail's audio (GET, same token)."}),
)
TRIAGE_ITEM = obj(
    id=INT,
    phone={"type": "string", "description": "In full (E.164 where it could be read), to call back."},
    phone_masked=STRING,
    community=TEXT_OR_NONE,
    status=TRIAGE_STATUS,
    note=STRING,
    resident_id=nullable(INT),
    resident=TEXT_OR_NONE,
    created_at=TIME,
    updated_at=TIME,
    closed_at=nullable(TIME),
    closed_by=TEXT_OR_NONE,
    messages=array(TRIAGE_MESSAGE),
    suggested=array(obj(id=INT, name=STRING)),
)
TRIAGE_RESULT = obj(
    item=ref("TriageItem"), resident_id=nullable(INT), phone_added=BOOL, task_ids=array(INT), messages_decided=INT
)
LINK_PREVIEW = obj(
    item_id=INT,
    phone_masked=STRING,
    resident_id=INT,
    resident=STRING,
    address=STRING,
    phones_now=array(STRING),
    adds_phone=BOOL,
    messages=INT,
)

SCHEMAS: Json = {
    "Error": some(["error"], error=STRING, problems=array(obj(field=STRING, code=STRING, message=STRING))),
    "Board": BOARD,
    "CoverageRow": COVERAGE_ROW,
    "ResidentDay": RESIDENT_DAY,
    "BoardTask": BOARD_TASK,
    "AtRisk": AT_RISK,
    "Task": TASK,
    "HistoryItem": HISTORY_ITEM,
    "TaskDetail": TASK_DETAIL,
    "Voicemail": VOICEMAIL,
    "TaskActionResult": obj(task=ref("TaskDetail"), messages_decided=INT),
    "TriageRow": TRIAGE_ROW,
    "TriageItem": TRIAGE_ITEM,
    "TriageActionResult": TRIAGE_RESULT,
    "LinkPreview": LINK_PREVIEW,
    "TriageLinkResult": obj(dry_run=BOOL, preview=ref("LinkPreview"), result=nullable(ref("TriageActionResult"))),
    "Liaison": LIAISON,
    "ResidentRow": RESIDENT_ROW,
    "Resident": RESIDENT,
    "ResidentHistory": HISTORY,
    "ResidentChanges": CHANGES,
    "EditResult": obj(changed=array(STRING), resident=ref("Resident")),
    "CallResult": obj(
        dry_run=BOOL,
        selected=INT,
        seconds=nullable(NUMBER),
        resident_ids=array(INT),
        called=array(INT),
        skipped={"type": "object", "additionalProperties": STRING, "description": "resident id → why not called"},
    ),
    "NoticePreview": NOTICE_PREVIEW,
    "NoticeProgress": NOTICE_PROGRESS,
    "CommunityDay": COMMUNITY_DAY,
    "DailyReport": DAILY,
    "TrendDay": obj(day=DATE, due=INT, standings=COUNTS),
    "AuditEntry": obj(
        id=INT,
        at=TIME,
        actor=STRING,
        actor_name=STRING,
        action=STRING,
        object_kind=STRING,
        object_id=nullable(INT),
        detail=STRING,
    ),
}
