"""`/channels`: the channels the hotline speaks through, what they cannot do and what the hotline does instead,
and how they are doing (the last message in, the last delivery report, today's failures, what waits to go), for
all of them and for each gateway. Each community's own choice of gateways, which an admin may change here. With
SMS Gateway for Android, each phone too: when it was last heard from, what it sent today against its SIM's daily
limit, and which are quiet (given no new SMS while another phone can take them)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dispatch import android_phones, audit, community_channels
from dispatch.channel_health import ChannelHealth, channel_health
from dispatch.channels import CHANNELS, shortfalls
from dispatch.community_channels import CommunityChoice
from dispatch.exceptions import InvalidAction, NotFound
from dispatch.models import StaffRole, StaffUser
from hotline.console.auth import staff_only
from hotline.console.render import page
from hotline.services import Services


def channels_report(services: Services) -> dict[str, Any]:
    """What the page shows, with times in the hotline's timezone."""
    settings, intake = services.settings, services.intake
    zone = settings.timezone
    now = services.clock().astimezone(zone)
    day_start = datetime.combine(now.date(), time(0), zone)
    gateways = [name for name in dict.fromkeys((*settings.gateways, settings.call_gateway)) if name != "none"]
    with services.readonly() as session:
        health = channel_health(session, day_start)
        each = {name: channel_health(session, day_start, name) for name in gateways}
        communities = community_channels.all_choices(session)
        phones = (
            android_phones.health(
                session,
                [(phone.name, phone.daily_limit or settings.android_daily_limit) for phone in settings.android_phones],
                today=now.date(),
                quiet_before=now - timedelta(minutes=settings.android_quiet_minutes),
            )
            if "android" in settings.gateways or settings.channel == "android"
            else []
        )

    def local(moment: datetime | None) -> str | None:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else None

    def figures(found: ChannelHealth) -> dict[str, Any]:
        return {
            "last_inbound": local(found.last_inbound),
            "last_report": local(found.last_report),
            "failed_today": found.failed_today,
            "waiting": found.waiting,
            "oldest_waiting": local(found.oldest_waiting),
        }

    rows = []
    for community in communities:
        sms, calls = intake.sms_for(community.choice.sms), intake.calls_for(community.choice.calls).name
        rows.append(
            {
                "id": community.id,
                "name": community.name,
                "sms": sms,
                "calls": calls,
                "chosen": community.choice,
                "shortfalls": shortfalls(CHANNELS[settings.channel_of(sms)], CHANNELS[settings.channel_of(calls)]),
            }
        )
    return {
        "sms_gateway": settings.gateway,
        "call_gateway": settings.call_gateway,
        "shortfalls": shortfalls(CHANNELS[settings.channel], CHANNELS[settings.call_gateway]),
        **figures(health),
        "gateways": [{"name": name, **figures(found)} for name, found in each.items()],
        "communities": rows,
        "sms_choices": list(settings.gateways),
        "call_choices": list(settings.call_gateways),
        "phones": phones,
        "quiet_minutes": settings.android_quiet_minutes,
    }


async def _render(request: Request, *, status_code: int = 200, **extra: Any) -> Response:
    services: Services = request.app.state.services
    report = await run_in_threadpool(channels_report, services)
    return page(request, "channels.html", request.state.user, status_code=status_code, **report, **extra)


@staff_only()
async def channels_page(request: Request) -> Response:
    """Any staff role may read it: a clerk should know that no calls go out before a resident is waiting for one."""
    return await _render(request, saved=request.query_params.get("saved"))


@staff_only(StaffRole.ADMIN)
async def choose_channels(request: Request) -> Response:
    """Set one community's gateways for SMS and for calls (empty: the hotline's own), audited."""
    services: Services = request.app.state.services
    user: StaffUser = request.state.user
    community_id: int = request.path_params["community_id"]
    form = await request.form()
    wanted = CommunityChoice(str(form.get("sms", "")) or None, str(form.get("calls", "")) or None)
    settings = services.settings
    unknown = [
        name
        for name, choices in ((wanted.sms, settings.gateways), (wanted.calls, settings.call_gateways))
        if name is not None and name not in choices
    ]
    if unknown:  # a gateway the hotline is not set up with: said in the staff's words, nothing changed
        return await _render(request, status_code=409, error=unknown[0])

    def save() -> str:
        with services.sessions.begin() as session:
            community = community_channels.choose(
                session,
                community_id,
                wanted,
                sms_choices=set(services.settings.gateways),
                call_choices=set(services.settings.call_gateways),
            )
            detail = f"sms={wanted.sms or 'default'} calls={wanted.calls or 'default'}"
            audit.record(session, user, "channels", "community", community_id, detail, at=services.clock())
            return community.name

    try:
        await run_in_threadpool(save)
    except NotFound:
        return page(request, "not_found.html", user, status_code=404)
    except InvalidAction:
        return await _render(request, status_code=409, error=wanted.sms or wanted.calls or "?")
    return RedirectResponse(f"/channels?saved={community_id}", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/channels", channels_page),
    Route("/channels/communities/{community_id:id}", choose_channels, methods=["POST"]),
]
