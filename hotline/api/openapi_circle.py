"""The OpenAPI paths of a resident's care circle (`hotline.api.circle`). `openapi` adds them to its document,
handing over its own `op` and the resident's id parameter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dispatch.care_circle import LANGUAGES, MAX_CONTACTS
from dispatch.models import ConsentWay, TellBy
from hotline.api.circle import IDEMPOTENCY_KEY, KEY_LIMIT
from hotline.api.openapi_json import INT, array, obj, some

Json = dict[str, Any]
WHEN = {"type": ["string", "null"], "format": "date-time"}
TELL_BY = {
    "enum": list(TellBy),
    "description": "How the contact is told: sms, or call (an automated call that says the news twice; it goes as "
    "an SMS where the community's channels place no spoken calls).",
}


def circle_paths(op: Callable[..., Json], resident_id: Json) -> Json:
    """The paths under /residents/{id}/circle."""
    contact_id = {**resident_id, "name": "contact", "description": "A contact's id, from the circle."}
    consent = {
        "type": ["object", "null"],
        "description": "The resident's consent as recorded; null: not recorded, so never messaged.",
        "properties": {"way": {"enum": list(ConsentWay)}, "recorded_by": {"type": "string"}, "at": WHEN},
    }
    contact = obj(
        id=INT,
        name={"type": "string"},
        relation={"type": "string"},
        phone={"type": "string", "description": "E.164."},
        language={"enum": list(LANGUAGES)},
        tell_by=TELL_BY,
        consent=consent,
        opted_out_at=WHEN,
        messaged={"type": "boolean", "description": "Consent recorded and not opted out."},
    )
    view = obj(
        resident_id=INT,
        contacts=array(contact),
        limit=INT,
        family_answers=array(obj(at=WHEN, who={"type": "string", "description": "Relation and name: 女儿 王芳."})),
    )
    text = {"type": "string", "minLength": 1, "pattern": "\\S"}
    made = op(
        f"Add a family contact to the resident's care circle (at most {MAX_CONTACTS}).",
        "register",
        obj(contact=contact, messages_decided=INT),
        params=(
            resident_id,
            {
                "name": IDEMPOTENCY_KEY,
                "in": "header",
                "required": True,
                "schema": {"type": "string", "minLength": 1, "maxLength": KEY_LIMIT, "pattern": "^[!-~]+$"},
                "description": "The request's own key: the same key again adds no second contact (answered 200).",
            },
        ),
        body=some(
            ["name", "relation", "phone"],
            name={**text, "maxLength": 100},
            relation={**text, "maxLength": 40, "description": "女儿, 儿子…"},
            phone={**text, "maxLength": 40},
            language={"enum": list(LANGUAGES), "default": "zh-CN"},
            tell_by={**TELL_BY, "default": TellBy.SMS.value},
            consent_way={
                "enum": list(ConsentWay),
                "description": "How the resident consented, recorded in the token's name. Left out: not recorded.",
            },
        ),
        errors="400 404 409",
        description="With consent recorded the contact gets one welcome (SMS, or a call with tell_by call) naming the "
        "resident and how to opt out. 422: a field of the wrong type or value (named). "
        "409: the circle is full, the number is in it already or opted out of it, or a field is bad.",
    )
    made["responses"]["201"] = {**made["responses"]["200"], "description": "Added."}
    made["responses"]["200"] = {**made["responses"]["200"], "description": "Added before, by this key."}
    return {
        "/residents/{id}/circle": {
            "get": op(
                "The resident's care circle: contacts, consent, opt-outs, recent answers by family.",
                "register",
                view,
                params=(resident_id,),
                errors="404",
            ),
            "post": made,
        },
        "/residents/{id}/circle/{contact}/opt-out": {
            "post": op(
                "The contact asked for no more messages: kept on record, never messaged again.",
                "register",
                obj(contact=contact),
                params=(resident_id, contact_id),
                body=some([]),
                body_required=False,
                errors="404",
            )
        },
        "/residents/{id}/circle/{contact}": {
            "delete": op(
                "Take the contact out of the circle (kept on record, with any opt-out).",
                "register",
                obj(removed=INT),
                params=(resident_id, contact_id),
                errors="404",
            )
        },
    }
