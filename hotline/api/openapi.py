"""The OpenAPI 3.1 document of /api/v1, written by hand, served at /api/v1/openapi.json without a token.

A test walks every route under /api/v1 and checks each (path, method) is documented here, and each documented one
is a route, so the document cannot drift from the code. The schemas live in `openapi_schemas`, the way one
operation is described in `openapi_operations`; the paths of a feature of their own (triage, notices, away,
medicines, access notes, the care circle, how calls sound) in an `openapi_<feature>` module each.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from dispatch.models import ResidentCategory, TaskCategory
from dispatch.tasks.staff_actions import NOTE_LIMIT, TRIAGE_CATEGORIES
from dispatch.tasks.staff_made import KEY_LIMIT, WORDS_LIMIT
from dispatch.tasks.staff_views import task_statuses
from hotline.api.openapi_access import access_paths
from hotline.api.openapi_away import ABSENCE, AWAY, away_paths
from hotline.api.openapi_circle import circle_paths
from hotline.api.openapi_json import array, obj, ref, some
from hotline.api.openapi_medicines import CHANGES as MEDICINE_CHANGES
from hotline.api.openapi_medicines import medicine_paths
from hotline.api.openapi_notices import notice_paths
from hotline.api.openapi_operations import (
    AUDIO,
    BODY_ID,
    DAY,
    ID,
    INT,
    MESSAGE_ID,
    NO_NUL,
    OFFSET,
    QUERY_ID,
    json_body,
    op,
    query,
    task_action,
    text_up_to,
)
from hotline.api.openapi_schemas import SCHEMAS
from hotline.api.openapi_triage import triage_paths
from hotline.api.openapi_voice import voice_paths

Json = dict[str, Any]


def made_task_operation() -> Json:
    """POST /tasks: a 201 for a new task, a 200 for the same Idempotency-Key again."""
    operation = op(
        "Make a task for a resident (a call to the office), offered to their liaison like any other.",
        "tasks",
        ref("TaskActionResult"),
        params=(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": True,
                "schema": {"type": "string", "minLength": 1, "maxLength": KEY_LIMIT, "pattern": "^[!-~]+$"},
                "description": "The request's own key: the same key again makes no second task (answered 200).",
            },
        ),
        body=some(
            ["resident_id", "category", "words"],
            resident_id=BODY_ID,
            category={"enum": list(TaskCategory)},
            words={**text_up_to(WORDS_LIMIT), "minLength": 1, "pattern": "\\S"},
            urgent={"type": "boolean", "default": False},
        ),
        errors="400 404 409",
        description="Health first: an unwell task is urgent whatever `urgent` says. Answers 201 with the new task; "
        "the same Idempotency-Key (this token's) with the same request answers 200 with the task it made and sends "
        "nothing; with another request, 422.",
    )
    operation["responses"]["201"] = {**operation["responses"]["200"], "description": "Made."}
    operation["responses"]["200"] = {**operation["responses"]["200"], "description": "Made before, by this key."}
    return operation


PATHS: Json = {
    "/board": {
        "get": op(
            "Today's board: coverage per grid, who to look at first, open tasks, who is away or in hospital.",
            "board",
            ref("Board"),
        )
    },
    "/tasks": {
        "get": op(
            "Tasks in scope, filtered; urgent and open first.",
            "tasks",
            obj(tasks=array(ref("Task")), limit=INT, offset=INT),
            errors="400",
            params=(
                query("status", {"enum": task_statuses()}, '"open" for every open status, or one status.'),
                query("category", {"enum": list(TaskCategory)}, "One category."),
                query("grid_id", QUERY_ID, "Tasks of households in this grid."),
                query("liaison_id", QUERY_ID, "Tasks assigned to this liaison."),
                query("owner", {"enum": ["unassigned"]}, "Tasks no staff member follows up."),
                query("owner_id", QUERY_ID, "Tasks this staff member follows up."),
                query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}, "Page size."),
                query("offset", OFFSET, "Rows to skip."),
            ),
        ),
        "post": made_task_operation(),
    },
    "/tasks/{id}": {
        "get": op(
            "One task and its whole history; the view is audited.",
            "tasks",
            ref("TaskDetail"),
            params=(ID,),
            errors="404",
        )
    },
    "/tasks/{id}/voicemails/{message_id}": {
        "get": {
            **op(
                "A voicemail's audio, fetched from the phone provider for this token; each listen is audited.",
                "tasks",
                AUDIO,
                params=(ID, MESSAGE_ID),
                errors="404 502",
            ),
            "description": "The audio (audio/mpeg from Twilio; audio/wav from the local gateway). A recording the "
            "provider no longer has is a 404 that says so; a provider that does not answer, a 502.",
        }
    },
    "/tasks/{id}/assign": task_action(
        "Offer the task to a liaison (who takes it by SMS); the liaison who had it is told.",
        obj(liaison_id=BODY_ID),
    ),
    "/tasks/{id}/note": task_action(
        "Add a note to the task's history; with for_liaison, the liaison holding it may read it by SMS.",
        some(["text"], text=text_up_to(NOTE_LIMIT), for_liaison={"type": "boolean", "default": False}),
        description="Staff notes are for staff unless for_liaison is true. The same note again by the same token, "
        "with nothing between, is not added twice.",
    ),
    "/tasks/{id}/owner": task_action(
        "Give the task a staff owner, the staff member following it up, or release it (staff_id null).",
        some(
            ["staff_id"],
            staff_id={**BODY_ID, "type": ["integer", "null"]},
            expected_owner_id={**BODY_ID, "type": ["integer", "null"]},
        ),
        description="The owner must be an active staff account that can see the task. Giving it to its owner, or "
        "releasing a task nobody owns, changes nothing. With expected_owner_id (the owner the client saw; null: "
        "nobody), the change is refused (409) if someone else owns it now.",
    ),
    "/tasks/{id}/close": task_action(
        "Mark the task done; the resident is told if a liaison had it.",
        some([], note=text_up_to(NOTE_LIMIT)),
        required=False,
    ),
    "/tasks/{id}/cancel": task_action(
        "Cancel the task; the liaison who had it is told.", some([], reason=text_up_to(NOTE_LIMIT)), required=False
    ),
    "/tasks/{id}/reopen": task_action(
        "Reopen a done task that was not done after all: offered again from the first rung.",
        some([], reason=text_up_to(NOTE_LIMIT)),
        required=False,
    ),
    "/tasks/{id}/triage": task_action(
        '分流: give an open "other" task its category (unwell makes it urgent).',
        obj(category={"enum": list(TRIAGE_CATEGORIES)}),
    ),
    "/liaisons": {
        "get": op(
            "Active liaisons with a phone a task in scope can be assigned to.",
            "tasks",
            obj(liaisons=array(ref("Liaison"))),
        )
    },
    "/residents": {
        "get": op(
            "Find residents in scope by name, phone (any format, or its last digits) or address.",
            "register",
            obj(residents=array(ref("ResidentRow")), limit=INT, offset=INT),
            errors="400",
            params=(
                query(
                    "q",
                    {"type": "string", "maxLength": 100, "pattern": NO_NUL},
                    "The search; empty lists everyone, by name.",
                ),
                query("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, "Page size."),
                query("offset", OFFSET, "Rows to skip."),
            ),
        )
    },
    "/residents/{id}": {
        "get": op(
            "One resident with their last days: check-ins, readings, tasks, calls; the view is audited.",
            "register",
            ref("ResidentHistory"),
            errors="400 404",
            params=(
                ID,
                query("days", {"type": "integer", "minimum": 1, "maximum": 90, "default": 14}, "Days of history."),
            ),
        ),
        "patch": op(
            "Change fields of a resident's record (the fields left out stay).",
            "register",
            ref("EditResult"),
            params=(ID,),
            body=ref("ResidentChanges"),
            errors="404",
        ),
    },
    "/residents/{id}/liaisons": {
        "put": op(
            "Set the primary and backup liaison of the resident's household (null removes one).",
            "register",
            ref("EditResult"),
            params=(ID,),
            errors="404",
            body=obj(
                primary_id={**BODY_ID, "type": ["integer", "null"]},
                backup_id={**BODY_ID, "type": ["integer", "null"]},
            ),
        )
    },
    "/residents/{id}/plan": {
        "put": op(
            "Give the resident their own check-in plan, or (own: false) put them back on their categories' default.",
            "register",
            ref("EditResult"),
            params=(ID,),
            errors="404",
            body=some(
                [],
                own={"type": "boolean", "default": True},
                times={
                    "type": "array",
                    "maxItems": 12,
                    "items": {"type": "string", "pattern": "^[0-9]{1,2}:[0-9]{2}$"},
                },
                channel={"enum": ["sms", "voice"]},
                ends_on={"anyOf": [{"type": "string", "format": "date"}, {"const": ""}], "description": "Empty: none."},
            ),
        )
    },
    "/calls": {
        "post": op(
            "Place check-in calls now to the residents a selection names (every filter given must hold).",
            "calls",
            ref("CallResult"),
            errors="404",
            description="A resident, grid or building outside the token's scope is 404, as if it did not exist.",
            body=some(
                [],
                resident_ids={"type": "array", "maxItems": 1000, "items": BODY_ID},
                not_reached_today={"type": "boolean", "description": "Not reached today, or a visit pending."},
                grid_id=BODY_ID,
                building={**text_up_to(100), "description": "A building's name; give its community_id too."},
                community_id=BODY_ID,
                category={"enum": list(ResidentCategory)},
                dry_run={"type": "boolean", "description": "Only say who would be called, and how long it would take."},
            ),
        )
    },
    "/reports/daily": {
        "get": op(
            "One local day per community: check-ins, errands by kind, times, escalations.",
            "reports",
            ref("DailyReport"),
            errors="400",
            params=(query("day", DAY, "The local day (default: today, so far)."),),
        )
    },
    "/reports/coverage": {
        "get": op(
            "Check-in coverage day by day, oldest first.",
            "reports",
            obj(end={"type": "string", "format": "date"}, days=INT, trend=array(ref("TrendDay"))),
            errors="400",
            params=(
                query("end", DAY, "The last day (default: today; at most 366 days ahead, else a 400)."),
                query("days", {"type": "integer", "minimum": 1, "maximum": 366, "default": 14}, "How many days."),
            ),
        )
    },
    "/audit": {
        "get": op(
            "The audit log, newest first (admin tokens only).",
            "admin",
            obj(entries=array(ref("AuditEntry"))),
            errors="400 403",
            params=(
                query(
                    "object_kind",
                    {"type": "string", "maxLength": 16, "pattern": NO_NUL},
                    "resident, task, notice, call, register, token.",
                ),
                query("object_id", QUERY_ID, "One object's entries."),
                query(
                    "actor",
                    {"type": "string", "maxLength": 64, "pattern": NO_NUL},
                    'One actor\'s entries, e.g. "staff:3" or "token:2".',
                ),
                query("before_id", QUERY_ID, "Entries older than this one (paging back)."),
                query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}, "Page size."),
            ),
        )
    },
}


PATHS.update(triage_paths(op, query, ID, BODY_ID, MESSAGE_ID, AUDIO))
PATHS.update(notice_paths(op, query, ID))
PATHS.update(away_paths(op, ID))
SCHEMAS.update(Absence=ABSENCE, Away=AWAY)
SCHEMAS["ResidentHistory"]["properties"]["away"] = ref("Away")  # GET /residents/{id} carries the absences
SCHEMAS["ResidentHistory"]["required"].append("away")
PATHS.update(medicine_paths(op, ID))
SCHEMAS["MedicineChanges"] = MEDICINE_CHANGES
PATHS.update(access_paths(op, ID))
PATHS.update(circle_paths(op, ID))
PATHS.update(voice_paths(op, ID))


def _with_ids(paths: Json) -> Json:
    """Give each operation a unique operationId made from its method and path."""
    for path, methods in paths.items():
        for method, operation in methods.items():
            words = [w.strip("{}") for w in path.split("/") if w]
            operation["operationId"] = method + "".join(w[:1].upper() + w[1:] for w in words)
    return paths


DOCUMENT: Json = {
    "openapi": "3.1.0",
    "info": {
        "title": "Hotline API",
        "version": "1",
        "description": (
            "The hotline's staff actions for other systems and scripts: the board, tasks, messages from unknown "
            "numbers, the register, calls, notices and reports. Send `Authorization: Bearer <token>` (issued "
            "with `hotline tokens create`). A "
            "token has a role and a scope like a staff account: an admin sees everything, a clerk one community, "
            "a grid leader one grid; anything outside the scope is 404, as if it did not exist. The API reads no "
            'cookies, so it needs no CSRF token. Every error is JSON: {"error": "…"}.'
        ),
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearerAuth": []}],
    "paths": _with_ids(PATHS),
    "components": {
        "securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer", "description": "hl_… from `hotline tokens create`."}
        },
        "schemas": SCHEMAS,
    },
}
DOCUMENT["paths"]["/openapi.json"] = {
    "get": {
        "summary": "This document.",
        "tags": ["meta"],
        "operationId": "getOpenapi",
        "security": [],
        "responses": {"200": {"description": "The OpenAPI document.", **json_body({"type": "object"})}},
    }
}


async def openapi_document(request: Request) -> Response:
    """The OpenAPI document. Public: it describes the API, and holds nothing about anyone."""
    return JSONResponse(DOCUMENT)


ROUTES: list[BaseRoute] = [Route("/openapi.json", openapi_document)]
