"""`/api/v1/residents/{id}/ring`: a resident's ring mode (ring to check in, `dispatch.checkins.ring`), read with the
rings counted in the last days, and set (PUT: the same mode twice changes nothing)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dispatch.checkins.ring_settings import MODES, change_ring_mode, ring_panel
from dispatch.register.history import HISTORY_DAYS, resident_in_scope
from dispatch.staff_accounts import household_scope
from hotline.api.common import Query, json_body, ok, path_id, services_of, token_of, token_only
from hotline.api.openapi_json import INT, TIME, Json, array, nullable, obj


@token_only()
async def ring(request: Request) -> Response:
    """GET: the mode and the rings of the last 14 days. PUT {"mode": off|fine|callback}: set it, then the same."""
    Query(request, set())
    resident_id = path_id(request, "id", "resident")
    mode = None
    if request.method == "PUT":
        mode = (await json_body(request, {"mode"})).choice("mode", MODES, required=True)
    services, token = services_of(request), token_of(request)

    def run() -> dict[str, Any]:
        now, where = services.clock(), household_scope(token)
        with services.sessions.begin() as session:
            changed = False
            if mode is not None:
                changed = change_ring_mode(session, resident_id, mode, actor=token, where=where, now=now)
            else:
                resident_in_scope(session, resident_id, where)
            panel = ring_panel(session, resident_id, now - timedelta(days=HISTORY_DAYS))
            rings = [
                {
                    "at": r.at.isoformat(),
                    "how": r.how,
                    "outcome": r.outcome,
                    "checkin_id": r.checkin_id,
                    "task_id": r.task_id,
                }
                for r in panel.rings
            ]
            return {"changed": changed, "ring_mode": str(panel.mode), "rings": rings}

    return ok(await run_in_threadpool(run))


ROUTES: list[BaseRoute] = [Route("/residents/{id}/ring", ring, methods=["GET", "PUT"])]

RING_RESULT: Json = obj(
    changed={"type": "boolean", "description": "False: it was so already (or a GET)."},
    ring_mode={"enum": list(MODES)},
    rings=array(
        obj(
            at=TIME,
            how={"enum": ["rejected", "unanswered", "sim"]},
            outcome={"enum": ["fine", "already", "kept", "no_checkin", "task", "joined"]},
            checkin_id=nullable(INT),
            task_id=nullable(INT),
        )
    ),
)
