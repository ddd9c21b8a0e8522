"""Twilio's own habits: every webhook delivered several times at once, call reports out of order, and the
I-Twilio-Idempotency-Token on retries. (Signed requests replayed with a change: test_twilio_refusals.py.)

Real parts: the app through httpx2's ASGI transport (copies of one webhook really run side by side, each in its
own thread and transaction), SQLite or PostgreSQL, redis-server and RQ workers, the local gateway. Each storm
is compared with the same requests delivered once, in a fresh database: three at once must do exactly what one
does, in the database and at the gateway.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx2 as httpx
from sqlalchemy import func, select

from dispatch.models import (
    Call,
    Checkin,
    CheckinEvent,
    InboundMessage,
    LocalOutboxEntry,
    OutboundMessage,
    Task,
    WebhookReceipt,
)
from hotline.app import create_app
from hotline.jobs import checkins
from hotline.services import Services
from hotline.settings import Settings
from hotline.simulator import twiml
from hotline.webhooks.signatures import SIGNATURE_HEADER
from tests.conftest import (
    BACKUP_PHONE,
    LIAISON_PHONE,
    RESIDENT_PHONE,
    Clock,
    at,
    run_worker,
    sms_params,
)
from tests.twilio_behaviour_helpers import (
    CALL,
    TOKEN,
    Phone,
    Scenario,
    deliver,
    effects,
    household,
    three_at_once_is_one,
)

LANDLINE = "+8637166881111"  # a resident checked in by call


# ── 1. every webhook three times at once ─────────────────────────────────────────────────────────────────────


def _two_calls(settings: Settings, services: Services, times: int) -> None:
    household(services)
    medicine = Phone.calling(settings, services, times, "CA" + "a" * 32, RESIDENT_PHONE)
    medicine.go(medicine.call.press("3")).go(medicine.call.hang_up())
    nobody = Phone.calling(settings, services, times, "CA" + "b" * 32, RESIDENT_PHONE)
    nobody.go(nobody.call.press("0"))
    for status in ("no-answer", "busy", "failed"):  # liaison, backup, duty phone: then a voicemail
        nobody.go(nobody.call.no_answer(status))
    nobody.go(nobody.call.record(25, "https://api.twilio.com/Recordings/RE1", "RE" + "1" * 32))
    nobody.go(nobody.call.hang_up())
    hung_up = Phone.calling(settings, services, times, "CA" + "c" * 32, RESIDENT_PHONE)
    hung_up.go(hung_up.call.hang_up())  # nothing chosen: a call-back
    run_worker(services)


def test_every_voice_webhook_three_times_at_once_acts_once(
    environ: dict[str, str], tmp_path: Path, settings: Settings, services: Services
) -> None:
    once = three_at_once_is_one(environ, tmp_path, settings, services, _two_calls)
    assert len(once["calls"]) == 3 and len(once["inbound"]) == 3  # medicine, the voicemail, the call-back
    assert [c[5:8] for c in once["calls"]] == [(0, False, False), (3, False, True), (0, False, False)]
    assert len(once["gateway"]) == len(once["outbound"]) > 0  # each decided SMS handed over once


def _check_in_calls(clock: Clock) -> Scenario:
    def scenario(settings: Settings, services: Services, times: int) -> None:
        household(services, LANDLINE)  # on a landline: checked in by call
        checkins.checkin_tick()
        run_worker(services)
        busy = Phone.ringing(settings, services, times, _calls(services)[-1])
        busy.go(busy.call.not_picked_up("busy"))
        clock.now += timedelta(minutes=10)
        checkins.checkin_tick()
        run_worker(services)
        phone = Phone.ringing(settings, services, times, _calls(services)[-1])
        phone.go(phone.call.pick_up()).go(phone.call.press("1")).go(phone.call.hang_up())
        run_worker(services)

    return scenario


def _calls(services: Services) -> list[LocalOutboxEntry]:
    with services.sessions() as session:
        query = select(LocalOutboxEntry).where(LocalOutboxEntry.kind == "call").order_by(LocalOutboxEntry.id)
        return list(session.scalars(query))


def test_every_check_in_call_webhook_three_times_at_once_acts_once(
    environ: dict[str, str], tmp_path: Path, settings: Settings, services: Services, clock: Clock
) -> None:
    clock.now = at("09:00")
    once = three_at_once_is_one(environ, tmp_path, settings, services, _check_in_calls(clock), clock)
    [checkin] = once["checkins"]
    assert (checkin[2], checkin[4], checkin[7]) == ("fine", 2, "human")  # busy once, then answered "fine"
    assert [e[2] for e in once["checkin_events"] if e[1] == "call_result"] == [
        "call 1: busy; again at 2030-03-04T01:10+00:00",
        "call 2: human",
    ]


def _offer_reports(settings: Settings, services: Services, times: int) -> None:
    household(services)
    deliver(settings, services, settings.callback_url("/twilio/sms"), sms_params("买药", sid="SM" + "1" * 32), times)
    run_worker(services)
    with services.sessions() as session:
        offer = session.scalars(select(OutboundMessage).where(OutboundMessage.to_phone == LIAISON_PHONE)).one()
    url = settings.callback_url(f"/twilio/status?o={offer.id}")
    for status, code in (("sent", ""), ("undelivered", "30003"), ("delivered", "")):  # the last one late
        report = {"MessageSid": str(offer.provider_sid), "MessageStatus": status, "ErrorCode": code}
        assert deliver(settings, services, url, report, times)[0].status_code == 204
    run_worker(services)
    # The call that says feedback to a resident on voice only reads: three fetches, one answer, nothing changed.
    answer = deliver(
        settings,
        services,
        settings.callback_url(f"/twilio/voice/message?o={offer.id}"),
        {"CallSid": "CA" + "d" * 32, "CallStatus": "in-progress"},
        times,
    )[0]
    assert answer.status_code == 200 and "<Say" in answer.text


def test_status_reports_three_times_at_once_climb_the_ladder_once(
    environ: dict[str, str], tmp_path: Path, settings: Settings, services: Services
) -> None:
    once = three_at_once_is_one(environ, tmp_path, settings, services, _offer_reports)
    offers = [row[:4] for row in once["outbound"] if row[0].startswith("task:1:offer:")]
    assert offers == [
        ("task:1:offer:0", LIAISON_PHONE, "sms", "undelivered"),
        ("task:1:offer:1", BACKUP_PHONE, "sms", "sent"),
    ]
    assert [e[3] for e in once["task_events"] if e[0] == "escalated"] == ["rung:1 offer SMS not delivered"]
    assert [e[1] for e in once["gateway"]].count(BACKUP_PHONE) == 1


# ── 2. call reports out of order ─────────────────────────────────────────────────────────────────────────────


def test_call_reports_out_of_order_end_in_the_final_state(settings: Settings, services: Services) -> None:
    household(services)
    phone = Phone.calling(settings, services, 1, "CA" + "e" * 32, RESIDENT_PHONE)
    url = settings.callback_url("/twilio/voice/status")
    for status, seconds in (("completed", "12"), ("ringing", "0"), ("completed", "12"), ("in-progress", "0")):
        deliver(settings, services, url, phone.call.params({"CallStatus": status, "CallDuration": seconds}), 1)
    run_worker(services)
    with services.sessions() as session:
        call = session.scalars(select(Call)).one()
        assert (call.status, call.duration_seconds) == ("completed", 12)
        needs = session.scalars(select(InboundMessage.provider_sid)).all()
        assert needs == [f"{call.call_sid}:missed"]
        assert session.scalars(select(Task.category)).all() == ["callback"]


def test_check_in_call_reports_out_of_order_end_in_the_final_state(
    settings: Settings, services: Services, clock: Clock
) -> None:
    household(services, LANDLINE)
    clock.now = at("09:00")
    checkins.checkin_tick()
    run_worker(services)
    first = Phone.ringing(settings, services, 1, _calls(services)[-1])
    for status in ("ringing", "no-answer", "ringing", "in-progress"):  # a late "ringing" and "in-progress"
        first.go(twiml.Step(first.call.status_url, {"CallStatus": status, "CallDuration": "0"}, twiml=False))
    clock.now = at("09:10")
    checkins.checkin_tick()
    run_worker(services)
    second = Phone.ringing(settings, services, 1, _calls(services)[-1])
    second.go(second.call.pick_up()).go(second.call.press("1"))
    for status in ("completed", "in-progress", "ringing"):  # the end first, then the late ones
        second.go(twiml.Step(second.call.status_url, {"CallStatus": status, "CallDuration": "20"}, twiml=False))
    run_worker(services)
    clock.now = at("09:30")
    checkins.checkin_tick()
    run_worker(services)
    assert len(_calls(services)) == 2  # one retry after no-answer, none after the person answered
    with services.sessions() as session:
        results = session.scalars(select(OutboundMessage.call_result).order_by(OutboundMessage.id)).all()
        assert results == ["no-answer", "human"]
        checkin = session.scalars(select(Checkin)).one()
        assert (checkin.status, checkin.calls_placed, checkin.next_call_at) == ("fine", 2, None)
        events = session.scalars(select(CheckinEvent.detail).where(CheckinEvent.kind == "call_result")).all()
        assert events == ["call 1: no-answer; again at 2030-03-04T01:10+00:00", "call 2: human"]
        assert session.scalars(select(Call.status)).all() == ["completed"]


# ── 3. Twilio's idempotency token ────────────────────────────────────────────────────────────────────────────


def test_an_sms_retried_with_its_token_is_one_message_even_under_another_sid(
    settings: Settings, services: Services
) -> None:
    household(services)
    sms = settings.callback_url("/twilio/sms")
    deliver(settings, services, sms, sms_params("买菜", sid="SM" + "a" * 32), 1, **{TOKEN: "token-1"})
    deliver(settings, services, sms, sms_params("买菜", sid="SM" + "b" * 32), 1, **{TOKEN: "token-1"})
    deliver(settings, services, sms, sms_params("买菜", sid="SM" + "a" * 32), 1, **{TOKEN: "token-9"})  # SID counts
    # and three copies at once, each under another SID, one token: one batch stores one
    copies = [sms_params("买药", sid=f"SM{n}" + "c" * 31) for n in range(3)]
    signed = [services.signature.sign("/twilio/sms", form) for form in copies]

    async def at_once() -> list[int]:
        transport = httpx.ASGITransport(app=create_app(settings, services))
        async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as client:
            posts = [
                client.post("/twilio/sms", data=form, headers={SIGNATURE_HEADER: signature, TOKEN: "token-2"})
                for form, signature in zip(copies, signed, strict=True)
            ]
            return [answer.status_code for answer in await asyncio.gather(*posts)]

    assert asyncio.run(at_once()) == [200, 200, 200]
    run_worker(services)
    with services.sessions() as session:
        stored = session.execute(select(InboundMessage.provider_sid, InboundMessage.idempotency_token)).all()
        assert sorted(stored) == [("SM0" + "c" * 31, "token-2"), ("SM" + "a" * 32, "token-1")]
        assert session.scalars(select(Task.category).order_by(Task.id)).all() == ["groceries", "medicine"]


def test_a_voice_webhook_retried_with_its_token_gets_the_first_answer_and_changes_nothing(
    settings: Settings, services: Services
) -> None:
    from hotline.jobs import sweeper

    household(services)
    deliver(settings, services, settings.callback_url("/twilio/sms"), sms_params("买菜"), 1)
    run_worker(services)  # a task waits for 张敏
    liaison = {**CALL, "From": LIAISON_PHONE}
    entry = settings.callback_url("/twilio/voice")
    first = deliver(settings, services, entry, liaison, 1, **{TOKEN: "call-1"})[0].text
    assert "您有1件待办" in first
    deliver(settings, services, settings.callback_url("/twilio/sms"), sms_params("接1", from_phone=LIAISON_PHONE), 1)
    run_worker(services)  # she takes it by SMS meanwhile
    before = effects(services)
    retry = deliver(settings, services, entry, liaison, 3, **{TOKEN: "call-1"})[0].text
    assert retry == first  # Twilio's retry is answered as the first delivery was: the step did not run again
    assert effects(services) == before
    assert "您有0件待办" in deliver(settings, services, entry, liaison, 1, **{TOKEN: "call-2"})[0].text
    with services.sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(WebhookReceipt)) == 2
        for receipt in session.scalars(select(WebhookReceipt)):
            receipt.created_at -= timedelta(hours=2)
    sweeper.sweep(grace_seconds=0)  # receipts are kept an hour
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebhookReceipt)) == 0
