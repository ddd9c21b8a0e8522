"""The OpenAPI paths of how the hotline's calls sound to a resident (`hotline.api.ring`, `hotline.api.greetings`,
the voice profile in `hotline.api.register`): a liaison's recorded greeting, ring to check in, the profile for
hearing and memory. `openapi` adds them to its document, handing over its own `op` and the id parameter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dispatch.checkins.ring_settings import MODES
from dispatch.models.greetings import GREETING_STATES
from hotline.api.openapi_json import array, obj, ref, some
from hotline.api.openapi_operations import INT
from hotline.api.ring import RING_RESULT

Json = dict[str, Any]

WHEN = {"type": ["string", "null"], "format": "date-time"}
GREETING = obj(
    id=INT,
    status={"enum": list(GREETING_STATES)},
    seconds={"type": ["integer", "null"]},
    recorded_at={"type": "string", "format": "date-time"},
    kept_at=WHEN,
    ended_at=WHEN,
)
GREETING_OR_NULL = {**GREETING, "type": ["object", "null"]}


def voice_paths(op: Callable[..., Json], id_: Json) -> Json:
    """/liaisons/{id}/greeting, /residents/{id}/ring and /residents/{id}/voice-profile."""
    off = {"type": "boolean", "default": False}
    return {
        "/liaisons/{id}/greeting": {
            "get": op(
                "The liaison's recorded check-in greetings, newest first, and the one their households hear "
                "(`current`).",
                "register",
                obj(liaison=obj(id=INT, name={"type": "string"}), current=GREETING_OR_NULL, history=array(GREETING)),
                params=(id_,),
                errors="404",
            ),
            "delete": op(
                "Take the liaison's current greeting away: their households' check-in calls greet in text-to-speech.",
                "register",
                obj(removed={"type": "boolean", "description": "False when there was none: nothing changed."}),
                params=(id_,),
                errors="404",
            ),
        },
        "/residents/{id}/ring": {
            "get": op(
                "The resident's ring mode (ring to check in) and the rings counted in the last 14 days.",
                "register",
                RING_RESULT,
                params=(id_,),
                errors="404",
            ),
            "put": op(
                "Set what a ring means for the resident: off (a call gets the menu), fine or callback.",
                "register",
                RING_RESULT,
                params=(id_,),
                errors="404",
                body=obj(mode={"enum": list(MODES)}),
            ),
        },
        "/residents/{id}/voice-profile": {
            "put": op(
                "Set the resident's profile for hearing and memory: how the hotline's calls speak to them.",
                "register",
                ref("EditResult"),
                params=(id_,),
                errors="404",
                body=some(
                    [],
                    slower={**off, "description": "Slower speech (SSML prosody rate)."},
                    louder={**off, "description": "Louder speech (SSML prosody volume)."},
                    twice={**off, "description": "Every prompt said twice."},
                    short_menus={
                        "type": "boolean",
                        "default": False,
                        "description": "At most three options at a time.",
                    },
                    sms_copy={**off, "description": "An SMS copy of what a call said."},
                ),
            )
        },
    }
