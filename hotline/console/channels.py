"""`/channels`: the health of the phones that carry the hotline's SMS (SMS Gateway for Android): when each was last
heard from, what it sent today against its SIM's daily limit, and which are quiet (given no new SMS while another
phone can take them). Any staff role may read it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dispatch import android_phones
from dispatch.models import StaffUser, utcnow
from hotline.console.auth import staff_only
from hotline.console.render import page
from hotline.services import Services


def phone_health(services: Services) -> list[android_phones.PhoneHealth]:
    """Each phone of ANDROID_PHONES, as the database knows it now."""
    settings = services.settings
    now = utcnow()
    phones = [(phone.name, phone.daily_limit or settings.android_daily_limit) for phone in settings.android_phones]
    with services.readonly() as session:
        return android_phones.health(
            session,
            phones,
            today=now.astimezone(settings.timezone).date(),
            quiet_before=now - timedelta(minutes=settings.android_quiet_minutes),
        )


@staff_only()
async def channels_page(request: Request) -> Response:
    """The phones' table, quiet ones flagged first in their row; another gateway says which it is."""
    services: Services = request.app.state.services
    user: StaffUser = request.state.user
    settings = services.settings
    context: dict[str, Any] = {"gateway": settings.gateway, "minutes": settings.android_quiet_minutes}
    phones = await run_in_threadpool(phone_health, services) if settings.gateway == "android" else []
    return page(request, "channels.html", user, phones=phones, **context)


ROUTES: list[BaseRoute] = [Route("/channels", channels_page)]
