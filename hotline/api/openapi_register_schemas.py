"""The schemas of the register's answers and bodies in the OpenAPI document: residents, their liaisons, their
plans, their history and the changes a body may ask for."""

from __future__ import annotations

from dispatch.models import Channel, ResidentCategory, ResidentStatus, RiskColour
from dispatch.register.edit import LANGUAGES
from hotline.api.openapi_json import BOOL, DATE, INT, NUMBER, STRING, TIME, array, nullable, obj, ref, some

LIAISON = obj(id=INT, name=STRING, phone=STRING, role=STRING, grid_id=nullable(INT))


TEXT_OR_NONE = nullable(STRING)


RESIDENT_ROW = obj(
    id=INT,
    name=STRING,
    phone={"type": "string", "description": "Masked, e.g. 138****8000."},
    landline=BOOL,
    community=TEXT_OR_NONE,
    building=TEXT_OR_NONE,
    unit=TEXT_OR_NONE,
    room=TEXT_OR_NONE,
    address=STRING,
    grid=TEXT_OR_NONE,
    liaison=TEXT_OR_NONE,
    backup_liaison=TEXT_OR_NONE,
    channel={"enum": list(Channel)},
    categories=array({"enum": list(ResidentCategory)}),
    risk={"enum": list(RiskColour)},
    status={"enum": list(ResidentStatus)},
)


LIAISON_LINE = nullable(obj(id=INT, name=STRING, phone=TEXT_OR_NONE, active=BOOL))


RESIDENT = obj(
    id=INT,
    name=STRING,
    phones=array(obj(phone=STRING, landline=BOOL)),
    language=STRING,
    channel=STRING,
    categories=array(STRING),
    risk=STRING,
    status=STRING,
    emergency_contact_name=TEXT_OR_NONE,
    emergency_contact_phone=TEXT_OR_NONE,
    notes=STRING,
    created_at=TIME,
    updated_at=TIME,
    household_id=INT,
    community=TEXT_OR_NONE,
    building=TEXT_OR_NONE,
    unit=TEXT_OR_NONE,
    room=TEXT_OR_NONE,
    address=STRING,
    grid=TEXT_OR_NONE,
    grid_leader=TEXT_OR_NONE,
    liaison=LIAISON_LINE,
    backup_liaison=LIAISON_LINE,
    housemates=array({"type": "array", "prefixItems": [INT, STRING], "description": "[id, name]"}),
)


PLAN = nullable(
    some(
        ["own", "times", "channel"],
        own=BOOL,
        times=array(STRING),
        channel=TEXT_OR_NONE,
        starts_on=nullable(DATE),
        ends_on=nullable(DATE),
        note=STRING,
        updated_by=TEXT_OR_NONE,
        updated_at=nullable(TIME),
    )
)


HISTORY = obj(
    resident=ref("Resident"),
    own_plan=PLAN,
    plan_today=PLAN,
    since=TIME,
    checkins=array(
        obj(
            id=INT,
            local_date=DATE,
            slot=STRING,
            channel=STRING,
            status=STRING,
            rung=INT,
            due_at=TIME,
            sent_at=nullable(TIME),
            answered_at=nullable(TIME),
            calls_placed=INT,
            last_call_result=TEXT_OR_NONE,
            visit_task_id=nullable(INT),
        )
    ),
    readings=array(obj(at=TIME, celsius=NUMBER)),
    tasks=array(
        obj(
            id=INT,
            category=STRING,
            priority=STRING,
            status=STRING,
            created_at=TIME,
            assignee=TEXT_OR_NONE,
            household_only=BOOL,
        )
    ),
    calls=array(
        obj(
            at=TIME,
            direction={"enum": ["in", "out"]},
            kind=STRING,
            outcome=TEXT_OR_NONE,
            duration_seconds=nullable(INT),
            connected=BOOL,
            task_made=BOOL,
            voicemail=BOOL,
        )
    ),
)


LIST_OR_TEXT = {"anyOf": [STRING, array(STRING)], "description": "A list, or one string with separators."}


CHANGES = {
    **some(
        [],
        name=STRING,
        phones=LIST_OR_TEXT,
        language={"enum": list(LANGUAGES)},
        channel={"enum": list(Channel)},
        categories=LIST_OR_TEXT,
        risk={"enum": list(RiskColour)},
        emergency_contact_name=TEXT_OR_NONE,
        emergency_contact_phone=TEXT_OR_NONE,
        notes=STRING,
        status={"enum": list(ResidentStatus)},
    ),
    "minProperties": 1,
    "additionalProperties": False,
}
