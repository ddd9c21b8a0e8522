"""Calls and notices for API tokens: place check-in calls to one resident or a selection, and send notices
(防控信息) to a community, grid or category, within the token's scope (`dispatch.checkins.staff_calls`,
`dispatch.notices`). What they decide is queued after the commit on the campaign queue, at the configured rates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dispatch import notices
from dispatch.checkins.staff_calls import place_staff_calls, scoped_selection, select_residents
from dispatch.models import ResidentCategory
from dispatch.staff_accounts import household_scope
from hotline.api.common import ApiError, Body, Query, json_body, ok, path_id, services_of, token_of, token_only
from hotline.handover import Decided, hand_over_async
from hotline.services import sms_templates

CALL_FIELDS = {"resident_ids", "not_reached_today", "grid_id", "community_id", "building", "category", "dry_run"}
NOTICE_FIELDS = {"target_kind", "target", "channels", "body", "starts_at"}
IDEMPOTENCY_KEY = "Idempotency-Key"
_LOCAL_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})$")


# ── Calls ────────────────────────────────────────────────────────────────────────────────────────────────────


@token_only()
async def calls(request: Request) -> Response:
    """Place check-in calls now to the residents the selection names (every filter given must hold; at least
    one). With `dry_run`, only say who would be called and how long it would take."""
    Query(request, set())
    body = await json_body(request, CALL_FIELDS)
    resident_ids = tuple(body.integers("resident_ids"))
    not_reached, dry_run = body.flag("not_reached_today"), body.flag("dry_run")
    grid_id, community_id = body.integer("grid_id"), body.integer("community_id")
    building = body.text("building", limit=100)
    category = body.choice("category", tuple(ResidentCategory))
    if (building is None) != (community_id is None):
        raise ApiError(422, "a building is named with its community: give building and community_id together")
    services, token = services_of(request), token_of(request)
    now, where = services.clock(), household_scope(token)
    rate = services.settings.calls_per_second

    def run() -> dict[str, Any]:
        factory = services.readonly if dry_run else services.sessions.begin
        with factory() as session:
            place = (community_id, building) if community_id and building else None
            selection = scoped_selection(
                session,
                where,
                resident_ids=resident_ids,
                not_reached_today=not_reached,
                grid_id=grid_id,
                building=place,
                category=category,
            )
            if selection.empty:
                raise ApiError(
                    422,
                    "choose whom to call: resident_ids, not_reached_today, grid_id, building with "
                    "community_id, or category",
                )
            if dry_run:
                chosen = select_residents(session, selection, now, services.intake, where=where)
                return {"selected": len(chosen), "resident_ids": chosen, "called": [], "skipped": {}, "ids": []}
            done = place_staff_calls(session, selection, actor=token, where=where, now=now, context=services.intake)
            named = sorted([*done.called, *done.skipped])
            return {
                "selected": len(named),
                "resident_ids": named,
                "called": done.called,
                "skipped": done.skipped,
                "ids": done.outbound_ids,
            }

    result = await run_in_threadpool(run)
    await hand_over_async(services, Decided(campaign=result.pop("ids")))
    return ok(
        {
            "dry_run": dry_run,
            "seconds": round(len(result["resident_ids"]) / rate, 1) if rate else None,
            **result,
            "skipped": {str(k): v for k, v in sorted(result["skipped"].items())},
        }
    )


# ── Notices ──────────────────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class NoticeFields:
    target_kind: str
    target: str
    channels: str
    body: str
    starts_at: datetime | None = None


def _starts_at(body: Body, zone: ZoneInfo) -> datetime | None:
    """`starts_at`, "YYYY-MM-DDTHH:MM" in the hotline's timezone on a 24-hour clock, as UTC; None: at once."""
    text = body.text("starts_at", limit=16)
    if text is None:
        return None
    found = _LOCAL_TIME.match(text)
    try:
        if found is None:
            raise ValueError(text)
        return notices.local_start(found[1], found[2], zone)
    except ValueError:
        raise ApiError(
            422, "starts_at: the hotline's local time as YYYY-MM-DDTHH:MM (24-hour), e.g. 2026-12-08T09:30"
        ) from None


def _notice_fields(body: Body, zone: ZoneInfo) -> NoticeFields:
    """The notice as the domain takes it; kinds, channels and categories checked here, so a typo is a 422."""
    kind = body.choice("target_kind", notices.TARGET_KINDS, required=True)
    target = body.text("target", required=True, limit=100)
    channels = body.choice("channels", notices.CHANNELS) or "sms"
    text = body.text("body", required=True, limit=notices.BODY_LIMIT) or ""
    assert kind is not None and target is not None
    if kind == "category" and target not in tuple(ResidentCategory):
        raise ApiError(422, f"target must be a category, one of: {', '.join(ResidentCategory)}")
    if not text.strip():
        raise ApiError(422, "body: the notice has no text")
    return NoticeFields(kind, target, channels, text, _starts_at(body, zone))


@token_only()
async def notice_preview(request: Request) -> Response:
    """What sending this notice would do now (or at `starts_at`): whom it reaches, SMS segments, how long at the
    configured rates, and any problem that would stop it (listed, not refused)."""
    Query(request, set())
    body = await json_body(request, NOTICE_FIELDS)
    services, token = services_of(request), token_of(request)
    fields = _notice_fields(body, services.settings.timezone)
    settings = services.settings

    def load() -> dict[str, Any]:
        with services.readonly() as session:
            found = notices.preview(
                session,
                household_scope(token),
                target_kind=fields.target_kind,
                target=fields.target,
                channels=fields.channels,
                body=fields.body,
                sms_per_second=settings.sms_per_second,
                calls_per_second=settings.calls_per_second,
                now=services.clock(),
                rules=services.intake.checkin,
                templates=sms_templates(services.settings),
                starts_at=fields.starts_at,
            )
            return found.as_dict()

    return ok(await run_in_threadpool(load))


@token_only()
async def notice_send(request: Request) -> Response:
    """Send a notice, or schedule it for `starts_at`. `request_key` (8-64 of A-Z a-z 0-9 _ -), or without one an
    `Idempotency-Key` header of that form, makes a retry safe: a second send with the same key by the same token
    answers with the first notice and sends nothing more."""
    Query(request, set())
    body = await json_body(request, {*NOTICE_FIELDS, "request_key"})
    services, token = services_of(request), token_of(request)
    fields, key = _notice_fields(body, services.settings.timezone), body.text("request_key", limit=64)
    key = key if key is not None else request.headers.get(IDEMPOTENCY_KEY)  # the body's key, else the header's
    settings = services.settings

    def send() -> tuple[dict[str, Any], list[int]]:
        where = household_scope(token)
        with services.sessions.begin() as session:
            notice, outbound = notices.send_notice(
                session,
                actor=token,
                where=where,
                target_kind=fields.target_kind,
                target=fields.target,
                channels=fields.channels,
                body=fields.body,
                now=services.clock(),
                rules=services.intake.checkin,
                templates=sms_templates(services.settings),
                sms_per_second=settings.sms_per_second,
                calls_per_second=settings.calls_per_second,
                request_key=key,
                starts_at=fields.starts_at,
            )
            session.flush()
            return notices.notice_progress(session, notice.id, where).as_dict(), outbound

    progress, outbound = await run_in_threadpool(send)
    await hand_over_async(services, Decided(campaign=outbound))
    return ok({"notice": progress, "messages_decided": len(outbound)})


@token_only()
async def notice_list(request: Request) -> Response:
    """The latest notices in scope, newest first, each with its progress."""
    query = Query(request, {"limit"})
    limit = query.integer("limit", default=notices.LIST_LIMIT, low=1, high=notices.LIST_LIMIT) or notices.LIST_LIMIT
    services, token = services_of(request), token_of(request)

    def load() -> list[dict[str, Any]]:
        with services.readonly() as session:
            return [n.as_dict() for n in notices.list_notices(session, household_scope(token), limit)]

    return ok({"notices": await run_in_threadpool(load)})


@token_only()
async def notice(request: Request) -> Response:
    """One notice and how far its copies are, per channel."""
    Query(request, set())
    notice_id = path_id(request, "id", "notice")
    services, token = services_of(request), token_of(request)

    def load() -> dict[str, Any]:
        with services.readonly() as session:
            found: dict[str, Any] = notices.notice_progress(session, notice_id, household_scope(token)).as_dict()
            return found

    return ok(await run_in_threadpool(load))


@token_only()
async def notice_cancel(request: Request) -> Response:
    """Cancel a scheduled notice before it starts. Safe to repeat: a notice cancelled already answers the same, with
    `cancelled_now` false. One that has started is a 409 ("already started")."""
    Query(request, set())
    await json_body(request, set(), optional=True)
    notice_id = path_id(request, "id", "notice")
    services, token = services_of(request), token_of(request)

    def cancel() -> dict[str, Any]:
        where = household_scope(token)
        with services.sessions.begin() as session:
            done = notices.cancel_notice(session, notice_id, actor=token, where=where, now=services.clock())
            return {"notice": notices.notice_progress(session, notice_id, where).as_dict(), "cancelled_now": done}

    return ok(await run_in_threadpool(cancel))


ROUTES: list[BaseRoute] = [
    Route("/calls", calls, methods=["POST"]),
    Route("/notices/preview", notice_preview, methods=["POST"]),
    Route("/notices", notice_send, methods=["POST"]),
    Route("/notices", notice_list),
    Route("/notices/{id}", notice),
    Route("/notices/{id}/cancel", notice_cancel, methods=["POST"]),
]
