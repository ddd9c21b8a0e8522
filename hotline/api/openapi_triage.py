"""The OpenAPI paths of triage (`hotline.api.triage`): messages from numbers not on the register. `openapi` adds
them to its document, handing over its own `op` and `query` so each operation is described the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dispatch.register.edit import MAX_NAME
from dispatch.triage.actions import ADDRESS_LIMIT, NOTE_LIMIT
from dispatch.triage.views import statuses
from hotline.api.openapi_json import INT, array, obj, ref, some

Json = dict[str, Any]
ROLES = "Admin and clerk tokens only: an item belongs to a community, not a grid."


def triage_paths(
    op: Callable[..., Json], query: Callable[..., Json], item_id: Json, body_id: Json, message_id: Json, audio: Json
) -> Json:
    """The paths under /triage, described with the document's own helpers and parameters."""

    def text(limit: int) -> Json:
        return {"type": "string", "maxLength": limit}

    def action(summary: str, result: Json, body: Json, description: str) -> Json:
        return {
            "post": op(
                summary,
                "triage",
                result,
                params=(item_id,),
                body=body,
                errors="403 404 409",
                description=f"{description} {ROLES}",
            )
        }

    return {
        "/triage": {
            "get": op(
                "Messages from numbers not on the register, one item per number: open ones, longest waiting first.",
                "triage",
                obj(items=array(ref("TriageRow")), limit=INT, offset=INT),
                errors="400 403",
                description=ROLES,
                params=(
                    query("status", {"enum": statuses()}, 'One status, or "all" (default: "open").'),
                    query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}, "Page size."),
                    query("offset", {"type": "integer", "minimum": 0, "maximum": 10**9, "default": 0}, "Rows to skip."),
                ),
            )
        },
        "/triage/{id}": {
            "get": op(
                "One item with its messages, oldest first; the view is audited.",
                "triage",
                ref("TriageItem"),
                params=(item_id,),
                errors="403 404",
                description=ROLES,
            )
        },
        "/triage/{id}/voicemails/{message_id}": {
            "get": op(
                "An unknown caller's voicemail on the item: its audio, fetched from the phone provider for this token; "
                "each listen is audited.",
                "triage",
                audio,
                params=(item_id, {**message_id, "description": "A message of the item with a voicemail."}),
                errors="403 404 502",
                description=ROLES,
            )
        },
        "/triage/{id}/link": action(
            "Link the item to a resident: the number becomes their extra phone; its messages are handled as theirs.",
            ref("TriageLinkResult"),
            some(["resident_id"], resident_id=body_id, dry_run={"type": "boolean", "default": False}),
            "With dry_run, only say what it would do (the confirmation step). The register's checks apply to the "
            "number (409 names the problem). A second link of the same item is a 409 and changes nothing.",
        ),
        "/triage/{id}/register": action(
            "Register a new resident with the item's number; its messages are then handled as theirs.",
            ref("TriageActionResult"),
            some(
                ["name"],
                name={**text(MAX_NAME), "minLength": 1},
                building=text(ADDRESS_LIMIT),
                unit=text(ADDRESS_LIMIT),
                room=text(ADDRESS_LIMIT),
                liaison_id=body_id,
                community_id={**body_id, "description": "Only for an item with no community."},
            ),
            "In the item's community; a complete address already on the register joins that household.",
        ),
        "/triage/{id}/close": action(
            "Close the item with a note; nothing else is done.",
            ref("TriageActionResult"),
            obj(note={**text(NOTE_LIMIT), "minLength": 1}),
            "A later message from the number opens a new item.",
        ),
    }
