"""`/channels`: the channels the hotline speaks through, what they cannot do and what the hotline does instead,
and how they are doing (the last message in, the last delivery report, today's failures, what waits to go). With
SMS Gateway for Android, each phone too: when it was last heard from, what it sent today against its SIM's daily
limit, and which are quiet (given no new SMS while another phone can take them)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dispatch import android_phones
from dispatch.channel_health import channel_health
from dispatch.channels import CHANNELS, shortfalls
from hotline.console.auth import staff_only
from hotline.console.render import page
from hotline.services import Services


def channels_report(services: Services) -> dict[str, Any]:
    """What the page shows, with times in the hotline's timezone."""
    settings = services.settings
    zone = settings.timezone
    now = services.clock().astimezone(zone)
    day_start = datetime.combine(now.date(), time(0), zone)
    with services.readonly() as session:
        health = channel_health(session, day_start)
        phones = (
            android_phones.health(
                session,
                [(phone.name, phone.daily_limit or settings.android_daily_limit) for phone in settings.android_phones],
                today=now.date(),
                quiet_before=now - timedelta(minutes=settings.android_quiet_minutes),
            )
            if settings.channel == "android"
            else []
        )

    def local(moment: datetime | None) -> str | None:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else None

    return {
        "sms_gateway": settings.gateway,
        "call_gateway": settings.call_gateway,
        "shortfalls": shortfalls(CHANNELS[settings.channel], CHANNELS[settings.call_gateway]),
        "last_inbound": local(health.last_inbound),
        "last_report": local(health.last_report),
        "failed_today": health.failed_today,
        "waiting": health.waiting,
        "oldest_waiting": local(health.oldest_waiting),
        "phones": phones,
        "quiet_minutes": settings.android_quiet_minutes,
    }


@staff_only()
async def channels_page(request: Request) -> Response:
    """Any staff role may read it: a clerk should know that no calls go out before a resident is waiting for one."""
    services: Services = request.app.state.services
    report = await run_in_threadpool(channels_report, services)
    return page(request, "channels.html", request.state.user, **report)


ROUTES: list[BaseRoute] = [Route("/channels", channels_page)]
