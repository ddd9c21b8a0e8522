"""The OpenAPI paths of notices (`hotline.api.outreach`): sent at once or scheduled, listed, followed, cancelled.
`openapi` adds them to its document, handing over its own `op` and `query` so each is described the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dispatch.notices import BODY_LIMIT, CHANNELS, TARGET_KINDS
from hotline.api.openapi_json import BOOL, array, obj, ref, some
from hotline.api.openapi_operations import INT, text_up_to

Json = dict[str, Any]

NOTICE = some(
    ["target_kind", "target", "body"],
    target_kind={"enum": list(TARGET_KINDS)},
    target={**text_up_to(100), "description": "A community's name, a grid (community/grid), or a category key."},
    channels={"enum": list(CHANNELS), "default": "sms"},
    body={**text_up_to(BODY_LIMIT), "minLength": 1},
    starts_at={
        "type": "string",
        "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}$",
        "description": "Schedule it: the hotline's local time, 24-hour, e.g. 2026-12-08T09:30. Not past, not in "
        "quiet hours. Leave it out to send at once.",
    },
)


def notice_paths(op: Callable[..., Json], query: Callable[..., Json], notice_id: Json) -> Json:
    """The paths under /notices, described with the document's own helpers and parameters."""
    return {
        "/notices/preview": {
            "post": op(
                "What sending a notice would do now: whom it reaches, SMS segments, time at the configured rates.",
                "notices",
                ref("NoticePreview"),
                errors="404",
                body=NOTICE,
            )
        },
        "/notices": {
            "post": op(
                "Send a notice (防控信息) by SMS and/or call to a community, grid or category in scope.",
                "notices",
                obj(notice=ref("NoticeProgress"), messages_decided=INT),
                errors="404 409",
                params=(
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"},
                        "description": "As request_key, when the body has none.",
                    },
                ),
                description="409 when it cannot go now: calls in quiet hours, or nobody to reach; with starts_at, "
                "a time past or in quiet hours. With starts_at it is scheduled (status scheduled, no copy yet) and "
                "starts by itself at that time. A retry with the same request_key answers with the first notice and "
                "sends nothing more.",
                body={
                    **NOTICE,
                    "properties": {
                        **NOTICE["properties"],
                        "request_key": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"},
                    },
                },
            ),
            "get": op(
                "The latest notices in scope, newest first, each with its progress.",
                "notices",
                obj(notices=array(ref("NoticeProgress"))),
                errors="400",
                params=(
                    query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 100}, "How many."),
                ),
            ),
        },
        "/notices/{id}": {
            "get": op(
                "One notice and how far its copies are.",
                "notices",
                ref("NoticeProgress"),
                params=(notice_id,),
                errors="404",
            )
        },
        "/notices/{id}/cancel": {
            "post": op(
                "Cancel a scheduled notice before it starts.",
                "notices",
                obj(notice=ref("NoticeProgress"), cancelled_now=BOOL),
                params=(notice_id,),
                body=some([]),
                body_required=False,
                errors="404 409",
                description="Safe to repeat: a notice cancelled already answers 200 with cancelled_now false. A notice "
                "that has started is a 409 (already started); so is one this token may not cancel.",
            )
        },
    }
