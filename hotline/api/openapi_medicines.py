"""The OpenAPI paths of a resident's medicines (`hotline.api.medicines`): listed with their calendar, added, changed,
a refill recorded, stopped. `openapi` adds them to its document, handing over its own `op` and parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dispatch.medicine_register import DOSE_LIMIT, KEY_LIMIT, MAX_DAYS, NAME_LIMIT
from dispatch.tasks.medicine_refills import MAX_LEAD_DAYS
from hotline.api.openapi_json import BOOL, DATE, INT, STRING, array, nullable, obj, ref, some
from hotline.api.openapi_operations import DAY, text_up_to

Json = dict[str, Any]

MEDICINE = obj(
    id=INT,
    name=STRING,
    dose=STRING,
    days_supply=INT,
    last_refill=nullable(DATE),
    runs_out_on=nullable(DATE),
    task_on={**nullable(DATE), "description": "The local day its next medicine task is made."},
    lead_days=INT,
    stopped=BOOL,
    state={"enum": ["ok", "soon", "out", "no_refill", "stopped"]},
    open_task_id=nullable(INT),
)

NAME = {**text_up_to(NAME_LIMIT), "minLength": 1, "pattern": "\\S"}
DAYS = {"type": "integer", "minimum": 1, "maximum": MAX_DAYS}
LEAD = {"type": "integer", "minimum": 0, "maximum": MAX_LEAD_DAYS}
CHANGES = {  # a PATCH's body, a schema of its own: null means what it says here, not "left out"
    **some(
        [],
        name=NAME,
        dose={**nullable(text_up_to(DOSE_LIMIT)), "description": "null or empty clears it."},
        days_supply=DAYS,
        lead_days={**nullable(LEAD), "description": "Days before it runs out its task is made; null: the hotline's."},
    ),
    "minProperties": 1,
    "additionalProperties": False,
}

KEY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": KEY_LIMIT, "pattern": "^[!-~]+$"},
    "description": "The request's own key: the same key again adds nothing (answered 200).",
}


def medicine_paths(op: Callable[..., Json], resident_id: Json) -> Json:
    """The paths under /residents/{id}/medicines, described with the document's own helpers and parameters."""
    added = op(
        "Add a medicine the resident takes; its task is made lead days before it runs out.",
        "register",
        obj(medicine=MEDICINE),
        params=(resident_id, KEY_HEADER),
        errors="400 404",
        body=some(
            ["name", "days_supply"],
            name=NAME,
            dose=text_up_to(DOSE_LIMIT),
            days_supply=DAYS,
            last_refill={**DAY, "description": "Local date, not after today."},
            lead_days=LEAD,
        ),
        description="Answers 201 with the new medicine; the same Idempotency-Key (this token's) answers 200 with "
        "what it added.",
    )
    added["responses"]["201"] = {**added["responses"]["200"], "description": "Added."}
    added["responses"]["200"] = {**added["responses"]["200"], "description": "Added before, by this key."}
    medicine_id = {**resident_id, "name": "medicine_id", "description": "A medicine's id, from the list."}
    return {
        "/residents/{id}/medicines": {
            "get": op(
                "The resident's medicines, current first: last refill, run-out day, the day its next task is made.",
                "register",
                obj(medicines=array(MEDICINE)),
                params=(resident_id,),
                errors="404",
            ),
            "post": added,
        },
        "/residents/{id}/medicines/{medicine_id}": {
            "patch": op(
                "Change a medicine's name, dose, days of supply or own lead (the fields left out stay).",
                "register",
                obj(medicine=MEDICINE, changed=array(STRING)),
                params=(resident_id, medicine_id),
                errors="404 409",
                body=ref("MedicineChanges"),
                description="changed names the fields that changed: none for the same values again, and nothing is "
                "recorded. A stopped medicine refuses a change (409): add it again to start it.",
            )
        },
        "/residents/{id}/medicines/{medicine_id}/refill": {
            "post": op(
                "Record a refill (the family brought it): the count starts again from its date.",
                "register",
                obj(medicine=MEDICINE, changed=BOOL),
                params=(resident_id, medicine_id, KEY_HEADER),
                errors="400 404 409",
                body=some([], date={**DAY, "description": "Local date, not after today; absent: today."}),
                body_required=False,
            )
        },
        "/residents/{id}/medicines/{medicine_id}/stop": {
            "post": op(
                "Stop a medicine the resident no longer takes: no more tasks for it; kept for the record.",
                "register",
                obj(medicine=MEDICINE, changed=BOOL),
                params=(resident_id, medicine_id),
                errors="404",
                body={"type": "object", "properties": {}},
                body_required=False,
                description="Stopped already: changed is false and nothing is recorded.",
            )
        },
    }
