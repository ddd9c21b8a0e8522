"""The audit log, for admin tokens only: who viewed or changed which resident, task or notice, and when."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dispatch import audit
from dispatch.models import StaffRole
from hotline.api.common import Query, ok, services_of, token_only


@token_only(StaffRole.ADMIN)
async def audit_log(request: Request) -> Response:
    """The latest entries first; filter by object (`object_kind`, `object_id`) or `actor`; `before_id` pages back."""
    query = Query(request, {"object_kind", "object_id", "actor", "before_id", "limit"})
    kind, actor = query.text("object_kind", 16), query.text("actor", 64)
    object_id, before_id = query.integer("object_id", low=1), query.integer("before_id", low=1)
    limit = query.integer("limit", default=audit.AUDIT_PAGE, low=1, high=500) or audit.AUDIT_PAGE
    services = services_of(request)

    def load() -> list[dict[str, Any]]:
        with services.readonly() as session:
            found = audit.entries(
                session, object_kind=kind, object_id=object_id, actor=actor, before_id=before_id, limit=limit
            )
            return [
                {
                    "id": e.id,
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "actor_name": e.actor_name,
                    "action": e.action,
                    "object_kind": e.object_kind,
                    "object_id": e.object_id,
                    "detail": e.detail,
                }
                for e in found
            ]

    return ok({"entries": await run_in_threadpool(load)})


ROUTES: list[BaseRoute] = [Route("/audit", audit_log)]
