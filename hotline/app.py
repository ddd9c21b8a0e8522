"""`create_app(settings)`: the Starlette application, built from one Settings."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from dispatch.exceptions import InvalidInboundMessage
from dispatch.ivr.script import AUDIO_DIR
from hotline import api, ops
from hotline.api.common import http_error as api_http_error
from hotline.console import (
    access,
    admin,
    away,
    channels,
    circle,
    liaison_greeting,
    medicines,
    messages,
    notices,
    outreach,
    pages,
    people,
    places,
    register,
    reports,
    ring,
    staff,
    tasks,
    triage,
    voice_profile,
)
from hotline.console.auth import session_middleware
from hotline.console.body_cap import BodyCap
from hotline.greeting_audio import GREETING_AUDIO, played_greeting
from hotline.request_log import RequestLog
from hotline.security_headers import SecurityHeaders
from hotline.services import Services
from hotline.settings import Settings
from hotline.simulator import routes as simulator
from hotline.simulator.phones import Webhooks
from hotline.webhooks import paths
from hotline.webhooks.android_sms import android_events
from hotline.webhooks.httpsms import httpsms_events
from hotline.webhooks.inbound_batcher import InboundBatcher
from hotline.webhooks.tencent_sms import sms_reply, sms_status
from hotline.webhooks.tencent_voice import voice_events
from hotline.webhooks.twilio_sms import inbound_sms, message_status
from hotline.webhooks.twilio_voice import voice_message
from hotline.webhooks.voice_hotline import VoiceHotline, voice_endpoint
from hotline.webhooks.voice_hotline.greeting_steps import greeting_choice, greeting_recorded

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "console" / "static"
CONSOLE_ROUTES = [
    Route("/", pages.home),
    Route("/login", pages.login, methods=["GET", "POST"]),
    Route("/logout", pages.logout, methods=["POST"]),
    Route("/board", pages.board),
    *tasks.ROUTES,
    *triage.ROUTES,
    *register.ROUTES,
    *ring.ROUTES,
    *away.ROUTES,
    *medicines.ROUTES,
    *access.ROUTES,
    *circle.ROUTES,
    *messages.ROUTES,
    *voice_profile.ROUTES,
    *outreach.ROUTES,
    *notices.ROUTES,
    *reports.ROUTES,
    *admin.ROUTES,
    *channels.ROUTES,
    *people.ROUTES,
    *liaison_greeting.ROUTES,
    *staff.ROUTES,
    *places.ROUTES,
    Route("/simulator", simulator.simulator_page),
    Route("/simulator/api/people", simulator.people),
    Route("/simulator/api/phone", simulator.phone_state),
    Route("/simulator/api/sms", simulator.send_sms, methods=["POST"]),
    Route("/simulator/api/report", simulator.report, methods=["POST"]),
    Route("/simulator/api/call", simulator.start_call, methods=["POST"]),
    Route("/simulator/api/call/{sid}/move", simulator.move, methods=["POST"]),
    Route("/simulator/api/ringing/{sid}", simulator.ringing_call, methods=["POST"]),
]

# The console's forms and JSON are capped at 64 KiB (BodyCap). The CSV import takes 5 MB: its own cap answers
# first, with the import page; this one, twice as large, is only a backstop.
UPLOADS = {"/register/import": 2 * (register.UPLOAD_LIMIT + register.UPLOAD_SLACK)}


async def _bad_input(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(f"Bad request: {exc}", status_code=400)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405: JSON for an API path even when it missed the API's Mount (whose pattern stops at
    a newline, so /api/v1/tasks/%0A falls through to the console's routes), text as Starlette's elsewhere."""
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/v1/"):
        return await api_http_error(request, exc)
    return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)


class HotlineApp(Starlette):
    """Starlette with `SecurityHeaders` outside even its own error handler: every answer carries them, the
    exception handlers' 404s and 405s, and a 500 from a bug too; and `RequestLog` outside that, so every request
    has its one log line, a 500 too."""

    def build_middleware_stack(self) -> ASGIApp:
        return RequestLog(SecurityHeaders(super().build_middleware_stack()))


def create_app(settings: Settings, services: Services | None = None) -> Starlette:
    """Build the web app.

    Args:
        settings: The checked settings.
        services: Parts to use instead of building them (tests share one set with their workers).

    Returns:
        The ASGI application. Its services are closed on shutdown only if it built them.
    """
    owned = services is None
    services = services or Services.build(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if owned:
            services.close()

    app = HotlineApp(
        routes=[
            Route("/healthz", ops.healthz),
            Route("/readyz", ops.readyz),
            Route("/metrics", ops.metrics),
            Route(paths.SMS, inbound_sms, methods=["POST"]),
            Route(paths.STATUS, message_status, methods=["POST"]),
            Route(paths.ANDROID_EVENTS, android_events, methods=["POST"]),
            Route(paths.HTTPSMS_EVENTS, httpsms_events, methods=["POST"]),
            Route(paths.VOICE_MESSAGE, voice_message, methods=["POST"]),
            Route(paths.VOICE, voice_endpoint(VoiceHotline.entry), methods=["POST"]),
            Route(paths.VOICE_MENU, voice_endpoint(VoiceHotline.menu), methods=["POST"]),
            Route(paths.VOICE_DIAL, voice_endpoint(VoiceHotline.dial), methods=["POST"]),
            Route(paths.VOICE_RECORDED, voice_endpoint(VoiceHotline.recorded), methods=["POST"]),
            Route(paths.VOICE_STATUS, voice_endpoint(VoiceHotline.status), methods=["POST"]),
            Route(paths.VOICE_CHECKIN, voice_endpoint(VoiceHotline.checkin), methods=["POST"]),
            Route(paths.VOICE_CHECKIN_STATUS, voice_endpoint(VoiceHotline.checkin_status), methods=["POST"]),
            Route(paths.VOICE_GREETING_RECORDED, voice_endpoint(greeting_recorded), methods=["POST"]),
            Route(paths.VOICE_GREETING_CHOICE, voice_endpoint(greeting_choice), methods=["POST"]),
            # A liaison's recorded greeting, fetched by Twilio for <Play>: a signed link that expires.
            Route(GREETING_AUDIO + "/{greeting_id:id}", played_greeting),
            Route(paths.Tencent.REPLY, sms_reply, methods=["POST"]),
            Route(paths.Tencent.STATUS, sms_status, methods=["POST"]),
            Route(paths.Tencent.VOICE, voice_events, methods=["POST"]),
            # Recorded prompts, fetched by Twilio for <Play>: public, like the words they stand in for.
            Mount("/ivr-audio", StaticFiles(directory=AUDIO_DIR, check_dir=False), name="ivr-audio"),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
            # The JSON API: bearer tokens, no cookies, so no CSRF to worry about.
            Mount("/api/v1", routes=api.ROUTES),
            # The console last: its Mount takes every other path, and only it reads session cookies.
            Mount(
                "",
                routes=CONSOLE_ROUTES,
                middleware=[Middleware(BodyCap, larger=UPLOADS), session_middleware(settings)],
            ),
        ],
        exception_handlers={InvalidInboundMessage: _bad_input, HTTPException: _http_error},
        middleware=[Middleware(ops.WebhookTimer)],  # for /metrics
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.ops = ops.OpsMetrics(services)
    app.state.voice = VoiceHotline(services, services.voice_script)
    app.state.inbound_batcher = InboundBatcher(services)
    app.state.simulator = Webhooks(app, services)
    return app
