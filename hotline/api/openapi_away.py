"""The OpenAPI paths and schema of away and in hospital (`hotline.api.away`): set a resident away, end it early.
`openapi` adds them to its document, handing over its own `op` so each is described the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dispatch.models import AbsenceEnd, AbsenceReason, ReturnCall
from dispatch.register.away import KEY_LIMIT, NOTE_LIMIT
from hotline.api.openapi_json import BOOL, DATE, INT, STRING, TIME, array, nullable, obj, ref, some
from hotline.api.openapi_operations import text_up_to

Json = dict[str, Any]

ABSENCE = obj(
    id=INT,
    reason={"enum": list(AbsenceReason)},
    note=STRING,
    starts_on=DATE,
    return_on=DATE,
    tell_family=BOOL,
    set_by=STRING,
    created_at=TIME,
    ended_at=nullable(TIME),
    ended_by=nullable(STRING),
    end_reason=nullable({"enum": list(AbsenceEnd)}),
    return_call={"enum": list(ReturnCall)},
    return_task_id=nullable(INT),
)
AWAY = obj(current=nullable(ref("Absence")), past=array(ref("Absence")))


def away_paths(op: Callable[..., Json], resident_id: Json) -> Json:
    """The paths under /residents/{id}/absence."""
    made = op(
        "Set the resident away (in hospital, with family, travelling, other) until a return date, or change the "
        "absence that runs: no check-ins until then.",
        "register",
        obj(away=ref("Away"), created=BOOL, changed=BOOL),
        params=(
            resident_id,
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": True,
                "schema": {"type": "string", "minLength": 1, "maxLength": KEY_LIMIT, "pattern": "^[!-~]+$"},
                "description": "The request's own key: the same key again sets nothing more (answered 200).",
            },
        ),
        body=some(
            ["reason", "return_on"],
            reason={"enum": list(AbsenceReason)},
            return_on={"type": "string", "format": "date", "description": "The local day check-ins resume."},
            note=text_up_to(NOTE_LIMIT),
            tell_family={"type": "boolean", "description": "A hospital stay's: tell the care circle (default true)."},
        ),
        errors="404 409",
        description="The return date must be after today and within a year (422 naming the field otherwise). On "
        "it the absence ends by itself, with one welcome-back check-in call outside quiet hours (a visit task "
        "for a resident without a phone). 201 for a new absence; 200 for a change or the same key again. 409: "
        "the resident opted out or moved away.",
    )
    made["responses"]["201"] = {**made["responses"]["200"], "description": "Set away."}
    return {
        "/residents/{id}/absence": {"post": made},
        "/residents/{id}/absence/end": {
            "post": op(
                "End the resident's absence now (back early): check-ins resume, no welcome-back call.",
                "register",
                obj(ended=BOOL, away=ref("Away")),
                params=(resident_id,),
                body={"type": "object", "properties": {}},
                body_required=False,
                errors="404",
                description="Nothing running: ended is false and nothing changes.",
            )
        },
    }
