"""A liaison's recorded check-in greeting for API tokens of the staff who keep the liaison (admins; a clerk their
community's, `managed_liaison`): read which recordings they have and which one their households hear, and take the
current one away, after which their households' check-in calls greet in text-to-speech again. The audio itself is
only in the console (each listen audited); the recording is made by the liaison on the hotline."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dispatch.models import StaffRole
from dispatch.register.liaison_admin import managed_liaison
from dispatch.voice_greetings import GreetingRow, greeting_history, remove_greeting
from hotline.api.common import Query, json_body, ok, path_id, services_of, token_of, token_only

KEEPERS = (StaffRole.ADMIN, StaffRole.CLERK)


def _row(row: GreetingRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "seconds": row.seconds,
        "recorded_at": row.recorded_at.isoformat(),
        "kept_at": row.kept_at.isoformat() if row.kept_at else None,
        "ended_at": row.ended_at.isoformat() if row.ended_at else None,
    }


@token_only(*KEEPERS)
async def greeting(request: Request) -> Response:
    """GET: the liaison's recordings, newest first, and whether their households hear one (`current`)."""
    Query(request, set())
    liaison_id = path_id(request, "id", "liaison")
    services, token = services_of(request), token_of(request)

    def load() -> dict[str, Any]:
        with services.readonly() as session:
            liaison = managed_liaison(session, token, liaison_id)
            history = [_row(g) for g in greeting_history(session, liaison.id)]
            current = next((g for g in history if g["status"] == "current"), None)
            return {"liaison": {"id": liaison.id, "name": liaison.name}, "current": current, "history": history}

    return ok(await run_in_threadpool(load))


@token_only(*KEEPERS)
async def remove(request: Request) -> Response:
    """DELETE: take the current greeting away (kept as history); `removed` false when there was none, and nothing
    changes. It takes no body; one sent is read and checked first, as every route's is."""
    Query(request, set())
    await json_body(request, set(), optional=True)
    liaison_id = path_id(request, "id", "liaison")
    services, token = services_of(request), token_of(request)

    def run() -> bool:
        with services.sessions.begin() as session:
            liaison = managed_liaison(session, token, liaison_id)
            return remove_greeting(session, token, liaison.id, services.clock())

    return ok({"removed": await run_in_threadpool(run)})


ROUTES: list[BaseRoute] = [
    Route("/liaisons/{id}/greeting", greeting),
    Route("/liaisons/{id}/greeting", remove, methods=["DELETE"]),
]
