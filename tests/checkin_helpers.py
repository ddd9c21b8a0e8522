"""What the check-in tests share: a tick of the clock, a resident's reply, and what each phone was sent."""

from __future__ import annotations

from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.models import Checkin, LocalOutboxEntry
from hotline.jobs import checkins
from hotline.services import Services
from tests.callflow import CallFlow
from tests.conftest import PHONES, Clock, at, local_outbox, post_signed, run_worker, sms_params


def tick(services: Services, clock: Clock, hhmm: str) -> dict[str, int]:
    clock.now = at(hhmm)
    counts = checkins.checkin_tick()
    run_worker(services)
    return counts


def reply(client: TestClient, services: Services, clock: Clock, hhmm: str, name: str, body: str) -> None:
    clock.now = at(hhmm)
    assert post_signed(client, services, "/twilio/sms", sms_params(body, from_phone=PHONES[name])).status_code == 200
    run_worker(services)


def checkin_of(services: Services, resident_id: int, slot: str = "09:00") -> Checkin:
    with services.sessions() as session:
        found = session.scalar(select(Checkin).where(Checkin.resident_id == resident_id, Checkin.slot == slot))
        assert found is not None
        return found


def texts_to(services: Services, phone: str) -> list[str]:
    return [e.body for e in local_outbox(services) if e.kind == "sms" and e.to_phone == phone]


def calls_to(services: Services, phone: str) -> list[LocalOutboxEntry]:
    return [e for e in local_outbox(services) if e.kind == "call" and e.to_phone == phone]


def answer_call(client: TestClient, services: Services, entry: LocalOutboxEntry) -> CallFlow:
    return CallFlow.placed(client, services, entry.sid, entry.body, entry.to_phone, entry.status_callback)
