"""The OpenAPI path of a household's access notes for visits (`hotline.api.access`). `openapi` adds it to its
document, handing over its own `op` and `ID` so it is described the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dispatch.register.access_notes import ACCESS_FIELDS, LIMITS
from hotline.api.openapi_json import INT, STRING, array, nullable, obj
from hotline.api.openapi_operations import text_up_to

Json = dict[str, Any]

NOTES = obj(**{field: nullable(text_up_to(LIMITS[field])) for field in ACCESS_FIELDS})


def access_paths(op: Callable[..., Json], resident_id: Json) -> Json:
    """GET and PUT /residents/{id}/access."""
    changes = {
        "type": "object",
        "properties": {field: nullable(text_up_to(LIMITS[field])) for field in ACCESS_FIELDS},
        "minProperties": 1,
        "additionalProperties": False,
    }
    return {
        "/residents/{id}/access": {
            "get": op(
                "The access notes of the resident's household for visits (key holder, door code, note); audited.",
                "register",
                obj(resident_id=INT, access=NOTES),
                params=(resident_id,),
                errors="404",
            ),
            "put": op(
                "Set the access notes of the resident's household (null or empty clears one; those left out stay).",
                "register",
                obj(resident_id=INT, access=NOTES, changed=array(STRING)),
                params=(resident_id,),
                errors="404",
                body=changes,
                description="A visit task's offer SMS and its taker's confirmation carry them, and no other SMS. "
                "door_code: digits, letters, #, * and -.",
            ),
        }
    }
