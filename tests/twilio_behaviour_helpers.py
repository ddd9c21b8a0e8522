"""How the Twilio behaviour tests deliver webhooks once or several times at once, and what they compare: the
hotline's effects, everything but ids, SIDs and clock times, in the database and at the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
from sqlalchemy import select

from dispatch import register
from dispatch.models import (
    Call,
    Checkin,
    CheckinEvent,
    InboundMessage,
    LocalOutboxEntry,
    OutboundMessage,
    Task,
    TaskEvent,
)
from hotline import services as services_module
from hotline.app import create_app
from hotline.jobs import checkins
from hotline.services import Services
from hotline.settings import Settings, load_settings
from hotline.simulator import twiml
from hotline.webhooks.signatures import SIGNATURE_HEADER
from tests.conftest import (
    BACKUP_PHONE,
    DUTY_PHONE,
    HOTLINE_NUMBER,
    LIAISON_PHONE,
    RESIDENT_PHONE,
    Clock,
    fresh_services,
)

ACCOUNT_SID = "AC" + "1" * 32
TOKEN = "I-Twilio-Idempotency-Token"
CALL = {
    "CallSid": "CA" + "f" * 32,
    "AccountSid": ACCOUNT_SID,
    "From": RESIDENT_PHONE,
    "To": HOTLINE_NUMBER,
    "CallStatus": "in-progress",
    "Direction": "inbound",
}


async def _post(
    settings: Settings, services: Services, url: str, params: dict[str, str], times: int, headers: dict[str, str]
) -> list[httpx.Response]:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    signed = {SIGNATURE_HEADER: services.signature.sign(parts.path, params, parts.query), **headers}
    transport = httpx.ASGITransport(app=create_app(settings, services), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as client:
        return list(await asyncio.gather(*(client.post(path, data=params, headers=signed) for _ in range(times))))


def deliver(
    settings: Settings, services: Services, url: str, params: dict[str, str], times: int = 3, **headers: str
) -> list[httpx.Response]:
    """POST one signed webhook `times` times at once. Every copy gets the same answer."""
    answers = asyncio.run(_post(settings, services, url, params, times, headers))
    assert len({(a.status_code, a.text) for a in answers}) == 1, [(a.status_code, a.text) for a in answers]
    return answers


class Phone:
    """One call as Twilio sees it (the simulator's TwiML interpreter); each request is delivered `times` at once."""

    def __init__(self, settings: Settings, services: Services, times: int, call: twiml.Call) -> None:
        self.settings, self.services, self.times, self.call = settings, services, times, call

    @classmethod
    def calling(cls, settings: Settings, services: Services, times: int, sid: str, from_phone: str) -> Phone:
        call = twiml.Call(
            sid=sid,
            from_phone=from_phone,
            to_phone=HOTLINE_NUMBER,
            account_sid=ACCOUNT_SID,
            status_url=settings.callback_url("/twilio/voice/status"),
        )
        phone = cls(settings, services, times, call)
        phone.go(twiml.Step(settings.callback_url("/twilio/voice"), {}))
        return phone

    @classmethod
    def ringing(cls, settings: Settings, services: Services, times: int, entry: LocalOutboxEntry) -> Phone:
        """A call the hotline placed through the local gateway."""
        call = twiml.Call(
            sid=entry.sid,
            from_phone=HOTLINE_NUMBER,
            to_phone=entry.to_phone,
            account_sid=ACCOUNT_SID,
            status_url=entry.status_callback or "",
            direction="outbound-api",
            twiml_url=entry.body,
        )
        return cls(settings, services, times, call)

    def go(self, step: twiml.Step | None) -> Phone:
        while step is not None:
            [answer, *_] = deliver(self.settings, self.services, step.url, self.call.params(step.fields), self.times)
            assert answer.status_code in (200, 204), answer.text
            step = self.call.feed(answer.text) if step.twiml else None
        return self


def effects(services: Services) -> dict[str, list[Any]]:
    def stable(value: Any) -> Any:  # the SID the gateway gave a placed call, by its order
        return re.sub(r"CA[0-9a-f]{32}", lambda m: placed.get(m[0], m[0]), value) if isinstance(value, str) else value

    def rows(query: Any) -> list[Any]:
        return sorted((tuple(stable(v) for v in row) for row in session.execute(query)), key=repr)

    with services.sessions() as session:
        sids = session.scalars(select(LocalOutboxEntry.sid).order_by(LocalOutboxEntry.id))
        placed = {sid: f"placed-{n}" for n, sid in enumerate(sids)}
        return {
            "calls": rows(
                select(
                    Call.call_sid,
                    Call.direction,
                    Call.caller_kind,
                    Call.chose,
                    Call.task_made,
                    Call.dial_attempts,
                    Call.connected,
                    Call.voicemail,
                    Call.status,
                )
            ),
            "inbound": rows(
                select(
                    InboundMessage.provider_sid,
                    InboundMessage.channel,
                    InboundMessage.need,
                    InboundMessage.urgent,
                    InboundMessage.body,
                    InboundMessage.outcome,
                )
            ),
            "tasks": rows(select(Task.category, Task.priority, Task.status, Task.rung, Task.assignee_liaison_id)),
            "task_events": rows(select(TaskEvent.kind, TaskEvent.actor, TaskEvent.channel, TaskEvent.detail)),
            "outbound": rows(
                select(
                    OutboundMessage.dedupe_key,
                    OutboundMessage.to_phone,
                    OutboundMessage.kind,
                    OutboundMessage.status,
                    OutboundMessage.call_result,
                    OutboundMessage.attempts,
                )
            ),
            # what the gateway was asked to send; a call's URL names our row id, which is not an effect
            "gateway": sorted(
                (e.kind, e.to_phone, re.sub(r"o=\d+", "o=", e.body)) for e in session.scalars(select(LocalOutboxEntry))
            ),
            "checkins": rows(
                select(
                    Checkin.resident_id,
                    Checkin.slot,
                    Checkin.status,
                    Checkin.rung,
                    Checkin.calls_placed,
                    Checkin.calls_left,
                    Checkin.next_call_at,
                    Checkin.last_call_result,
                )
            ),
            "checkin_events": rows(select(CheckinEvent.checkin_id, CheckinEvent.kind, CheckinEvent.detail)),
        }


Scenario = Callable[[Settings, Services, int], None]


@contextlib.contextmanager
def another_database(environ: dict[str, str], tmp_path: Path) -> Iterator[Services]:
    """Fresh services on an empty database (on PostgreSQL: the same one, emptied), installed for workers."""
    settings = load_settings({**environ, "HOTLINE_DATA_DIR": str(tmp_path / "once")}, env_file=None)
    with fresh_services(settings) as alone:
        yield alone


def three_at_once_is_one(
    environ: dict[str, str],
    tmp_path: Path,
    settings: Settings,
    services: Services,
    scenario: Scenario,
    clock: Clock | None = None,
) -> dict[str, list[Any]]:
    """Play `scenario` with every webhook delivered three times at once, then once in a fresh database; the
    effects must be the same. Returns them."""
    start = clock.now if clock else None
    scenario(settings, services, 3)
    thrice = effects(services)
    with another_database(environ, tmp_path) as alone:
        if clock is not None and start is not None:
            clock.now, alone.clock = start, services.clock
            checkins.forget_made_day(alone)
        scenario(alone.settings, alone, 1)
        once = effects(alone)
    services_module.install(services)
    assert thrice == once
    return once


def household(services: Services, channel_phone: str = RESIDENT_PHONE) -> None:
    """梁阿姨 with a liaison and a backup, in a community with a duty phone."""
    with services.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone=LIAISON_PHONE, region="CN")
        register.add_liaison(session, name="李强", phone=BACKUP_PHONE, region="CN")
        resident = register.add_resident(
            session,
            name="梁阿姨",
            phones=[channel_phone],
            liaison_phone=LIAISON_PHONE,
            backup_liaison_phone=BACKUP_PHONE,
            address=register.Address("幸福里社区", "3号楼", "2单元", "402"),
            region="CN",
        )
        assert resident.household.community is not None
        resident.household.community.duty_phone = DUTY_PHONE
