"""The schemas of the OpenAPI document: what each answer and body of /api/v1 holds. The register's own are in
`openapi_register_schemas`, the building blocks in `openapi_json`."""

from __future__ import annotations

from dispatch.checkins.report import COLUMNS
from dispatch.models import AbsenceReason, TaskCategory, TaskStatus, TriageStatus
from hotline.api.openapi_json import (
    BOOL,
    COUNTS,
    DATE,
    INT,
    NUMBER,
    STRING,
    TIME,
    Json,
    array,
    nullable,
    obj,
    ref,
    some,
)
from hotline.api.openapi_register_schemas import CHANGES, HISTORY, LIAISON, RESIDENT, RESIDENT_ROW, TEXT_OR_NONE

STATUS = {"enum": [str(s) for s in TaskStatus]}
CATEGORY = {"enum": [str(c) for c in TaskCategory]}
TASK = obj(
    id=INT,
    category=CATEGORY,
    priority={"enum": ["urgent", "normal"]},
    status=STATUS,
    rung=INT,
    resident=STRING,
    grid=STRING,
    liaison=STRING,
    created_at=TIME,
    updated_at=TIME,
    owner={**STRING, "description": "The staff member following it up, by name; - for nobody."},
    owner_id=nullable(INT),
)
NOTE = obj(
    at=TIME,
    by=STRING,
    text=STRING,
    for_liaison={**BOOL, "description": "The liaison holding the task may read it by SMS (备注12)."},
)
HISTORY_ITEM = obj(
    at=TIME,
    kind={"enum": ["event", "outbound", "inbound", "call"]},
    what=STRING,
    who=STRING,
    channel=STRING,
    detail=STRING,
)
TASK_DETAIL = {
    "allOf": [
        ref("Task"),
        obj(
            description=STRING,
            household_id=nullable(INT),
            resident_id=nullable(INT),
            assignee_id=nullable(INT),
            offer_deadline=nullable(TIME),
            accepted_at=nullable(TIME),
            history=array(ref("HistoryItem")),
            notes=array(ref("Note")),
            voicemails=array(ref("Voicemail")),
        ),
    ]
}
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
RESIDENT_DAY = obj(
    resident_id=INT,
    name=STRING,
    community=STRING,
    grid=STRING,
    standing=STRING,
    slot=STRING,
    rung=INT,
    visit_task_id=nullable(INT),
)
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
    owner=STRING,
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
    away=array(ref("BoardAway")),
)
BOARD_AWAY = obj(
    resident_id=INT,
    name=STRING,
    community=STRING,
    grid=STRING,
    reason={"enum": [str(r) for r in AbsenceReason]},
    reason_text={**STRING, "description": "The reason in the hotline's language, as the console's board says it."},
    starts_on={**DATE, "description": "The resident's local day the absence was set."},
    return_on={**DATE, "description": "The local day check-ins resume."},
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
DURATIONS = obj(count=INT, median_minutes=nullable(NUMBER), p90_minutes=nullable(NUMBER))
COMMUNITY_DAY = obj(
    community=STRING,
    checkins=COUNTS,
    standings=COUNTS,
    known_percent=nullable(NUMBER),
    tasks=COUNTS,
    tasks_total=INT,
    to_accept=DURATIONS,
    to_done=DURATIONS,
    escalations=INT,
)
DAILY = obj(
    day=DATE,
    timezone=STRING,
    as_of=TIME,
    empty=BOOL,
    communities=array(ref("CommunityDay")),
    total=ref("CommunityDay"),
    accept_histogram=array(obj(lower_minutes=INT, upper_minutes=nullable(INT), count=INT)),
)

STAGES = obj(pending=INT, sent=INT, delivered=INT, failed=INT, total=INT)
NOTICE_PREVIEW = obj(
    target_kind=STRING,
    target=STRING,
    channels=STRING,
    residents=INT,
    sms=INT,
    calls=INT,
    skipped={"type": "object", "additionalProperties": INT, "description": "residents left out, by reason"},
    encoding={"enum": ["GSM-7", "UCS-2"]},
    characters=INT,
    segments=INT,
    sms_per_second=NUMBER,
    calls_per_second=NUMBER,
    problems=array(obj(code=STRING, message=STRING, fields={"type": "object"})),
    body_limit=INT,
    seconds=NUMBER,
    sms_seconds=NUMBER,
    call_seconds=NUMBER,
    ok=BOOL,
    sms_segments=INT,
    sms_unlimited=BOOL,
    calls_unlimited=BOOL,
)
NOTICE_PROGRESS = obj(
    id=INT,
    body=STRING,
    channels=STRING,
    target_kind=STRING,
    target=STRING,
    community=TEXT_OR_NONE,
    recipients=INT,
    created_at=TIME,
    sent_by=STRING,
    done=BOOL,
    counts={"type": "object", "additionalProperties": STAGES, "description": "sms / call → copies by stage"},
    status={"enum": ["scheduled", "sending", "sent", "cancelled"]},
    starts_at=nullable({**TIME, "description": "The time it was scheduled for; null: sent at once."}),
    started_at=nullable(TIME),
)

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
    "BoardAway": BOARD_AWAY,
    "Task": TASK,
    "HistoryItem": HISTORY_ITEM,
    "Note": NOTE,
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
