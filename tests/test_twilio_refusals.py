"""Refusals both ways. Twilio's permanent and throttling error codes (dispatch.provider_answers.PROVIDER_ERRORS), where
they come: in a delivery report (the local gateway sends; the test plays Twilio's report) and at sending (the real
twilio client against the local stand-in of Twilio's REST API, answering with the code). And ours: a request
signed by Twilio, replayed with one change, to any /twilio/* route.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from rq import Queue
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from dispatch import outbox
from dispatch.models import (
    AuditEntry,
    Call,
    Checkin,
    CheckinEvent,
    InboundMessage,
    OutboundMessage,
    ResidentPhone,
    Task,
    TaskEvent,
    WebhookReceipt,
)
from dispatch.phones import mask_phone
from hotline.app import create_app
from hotline.embedded_redis import EmbeddedRedis
from hotline.jobs import checkins, sends, sweeper
from hotline.services import Services
from hotline.settings import Settings, load_settings
from hotline.webhooks.signatures import SIGNATURE_HEADER
from tests.conftest import (
    BACKUP_PHONE,
    LIAISON_PHONE,
    PHONES,
    TEST_DATABASE_URL,
    Clock,
    at,
    fresh_services,
    local_outbox,
    make_environ,
    run_worker,
    sms_params,
)
from tests.twilio_behaviour_helpers import CALL, TOKEN, deliver, household
from tests.twilio_standin import TwilioStandIn
from workers.queues import OUTBOUND


def rows(services: Services) -> dict[str, OutboundMessage]:
    with services.sessions() as session:
        return {row.dedupe_key: row for row in session.scalars(select(OutboundMessage))}


def problems(services: Services) -> list[tuple[str, int | None, str]]:
    """What staff see in the audit log about numbers."""
    with services.sessions() as session:
        found = session.scalars(select(AuditEntry).where(AuditEntry.action == "phone_problem").order_by(AuditEntry.id))
        return [(e.object_kind, e.object_id, e.detail) for e in found]


def report(
    settings: Settings, services: Services, row: OutboundMessage, status: str, code: int, times: int = 1
) -> None:
    form = {"MessageSid": str(row.provider_sid), "MessageStatus": status, "ErrorCode": str(code)}
    answers = deliver(settings, services, settings.callback_url(f"/twilio/status?o={row.id}"), form, times)
    assert answers[0].status_code == 204


def texts_to(services: Services, phone: str) -> list[str]:
    return [e.body for e in local_outbox(services) if e.kind == "sms" and e.to_phone == phone]


# ── in a delivery report ─────────────────────────────────────────────────────────────────────────────────────

STAFF_TOLD = {21211, 21610, 30005, 30006}  # the number is wrong, opted out or takes no SMS: an audit entry


NOT_DELIVERED = [
    ("failed", 21211),
    ("undelivered", 21610),
    ("undelivered", 30003),
    ("undelivered", 30004),
    ("undelivered", 30005),
    ("undelivered", 30006),
]


@pytest.mark.parametrize(("status", "code"), NOT_DELIVERED)
def test_an_offer_not_delivered_climbs_at_once_whatever_the_code(
    settings: Settings, services: Services, status: str, code: int
) -> None:
    household(services)
    deliver(settings, services, settings.callback_url("/twilio/sms"), sms_params("买菜"), 1)
    run_worker(services)
    report(settings, services, rows(services)["task:1:offer:0"], status, code, times=3)
    run_worker(services)
    offers = rows(services)
    assert (offers["task:1:offer:0"].status, offers["task:1:offer:0"].error_code) == (status, code)
    assert offers["task:1:offer:1"].to_phone == BACKUP_PHONE and len(texts_to(services, BACKUP_PHONE)) == 1
    told = problems(services)
    assert [(kind, detail.split(":")[0]) for kind, _, detail in told] == (
        [("liaison", f"Twilio {code}")] if code in STAFF_TOLD else []
    )
    assert all(mask_phone(LIAISON_PHONE)[-4:] not in detail for _, _, detail in told)  # never the number


def test_check_in_sms_not_delivered_moves_on_to_the_call_now(
    settings: Settings, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    clock.now = at("09:00")
    checkins.checkin_tick()
    run_worker(services)
    by_resident = {
        name: rows(services)[f"checkin:{checkin_id}:sms"]
        for name, checkin_id in _checkins(services).items()
        if f"checkin:{checkin_id}:sms" in rows(services)
    }
    failures = {
        "梁阿姨": ("undelivered", 30003),
        "陈伯": ("undelivered", 30004),
        "吴叔": ("undelivered", 30005),
        "郑阿婆": ("undelivered", 30006),
        "赵姐": ("failed", 21211),
    }
    clock.now = at("09:05")
    for name, (status, code) in failures.items():
        report(settings, services, by_resident[name], status, code, times=3 if name == "梁阿姨" else 1)
    run_worker(services)
    called = [e.to_phone for e in local_outbox(services) if e.kind == "call"]
    # at once, not after the two-hour window; one call each however many copies of the report came
    assert sorted(called) == sorted([PHONES["孙爷爷"], *(PHONES[name] for name in failures)])
    with services.sessions() as session:
        landline = session.scalars(select(ResidentPhone.landline).where(ResidentPhone.phone == PHONES["郑阿婆"])).one()
        assert landline  # 30006: never texted again
        afternoon = session.scalars(
            select(Checkin.channel).where(Checkin.resident_id == town["郑阿婆"], Checkin.slot == "15:00")
        ).one()
        assert afternoon == "voice"
    with services.sessions.begin() as session:  # whatever decides an SMS to that number now, none is made
        assert outbox.queue_sms(session, dedupe_key="any", to_phone=PHONES["郑阿婆"], body="x") is None
    assert [(kind, object_id) for kind, object_id, _ in problems(services)] == [
        ("resident", town["吴叔"]),
        ("resident", town["郑阿婆"]),
        ("resident", town["赵姐"]),
    ]
    clock.now = at("15:00")
    checkins.checkin_tick()
    run_worker(services)
    assert len(texts_to(services, PHONES["郑阿婆"])) == 1  # the morning's, before Twilio said it was a landline
    assert [e.kind for e in local_outbox(services) if e.to_phone == PHONES["郑阿婆"]].count("call") >= 2


def _checkins(services: Services) -> dict[str, int]:
    with services.sessions() as session:
        found = session.execute(select(Checkin.resident_id, Checkin.id).where(Checkin.slot == "09:00")).all()
    ids = dict(found)
    return {name: ids[resident] for name, resident in _town_ids(services).items() if resident in ids}


def _town_ids(services: Services) -> dict[str, int]:
    from dispatch.models import Resident

    with services.sessions() as session:
        return dict(session.execute(select(Resident.name, Resident.id)).all())  # type: ignore[arg-type]


def test_a_throttled_sms_is_sent_again_once_later_then_climbs_if_that_fails_too(
    settings: Settings, services: Services
) -> None:
    household(services)
    deliver(settings, services, settings.callback_url("/twilio/sms"), sms_params("买菜"), 1)
    run_worker(services)
    report(settings, services, rows(services)["task:1:offer:0"], "undelivered", 63018, times=3)
    resend = rows(services)["task:1:offer:0:resend"]
    assert resend.status == "pending" and "task:1:offer:1" not in rows(services)  # throttled: no climb
    scheduled = ScheduledJobRegistry(queue=Queue(OUTBOUND, connection=services.redis)).get_job_ids()
    assert scheduled == [f"send-{resend.id}"]  # later, not now
    run_worker(services)
    assert len(texts_to(services, LIAISON_PHONE)) == 1  # not yet
    sends.send_sms(resend.id)  # its time comes
    report(settings, services, rows(services)["task:1:offer:0"], "undelivered", 63018, times=2)  # late repeats
    assert len(texts_to(services, LIAISON_PHONE)) == 2 and "task:1:offer:0:resend:resend" not in rows(services)
    report(settings, services, rows(services)["task:1:offer:0:resend"], "undelivered", 63018, times=3)
    run_worker(services)
    assert len(texts_to(services, LIAISON_PHONE)) == 2  # sent again once, never twice
    assert len(texts_to(services, BACKUP_PHONE)) == 1  # the resend failed too: the ladder climbs, once
    with services.sessions() as session:
        assert session.scalars(select(Task.rung)).one() == 1


def asked(standin: TwilioStandIn, phone: str, kind: str = "Messages") -> int:
    return sum(1 for r in standin.requests if r.form.get("To") == phone and r.path.endswith(f"{kind}.json"))


# ── a signed request replayed with one change ────────────────────────────────────────────────────────────

WEBHOOKS = {  # path: (query, form, the field to change)
    "/twilio/sms": ("", sms_params("买菜", sid="SM" + "2" * 32), "Body"),
    "/twilio/status": ("o=1", {"MessageSid": "SM" + "3" * 32, "MessageStatus": "undelivered", "ErrorCode": "30003"},
                       "ErrorCode"),
    "/twilio/voice": ("", CALL, "From"),
    "/twilio/voice/menu": ("n=resident_menu&r=0&t=0&k=0", {**CALL, "Digits": "2"}, "Digits"),
    "/twilio/voice/dial": ("i=0", {**CALL, "DialCallStatus": "no-answer"}, "DialCallStatus"),
    "/twilio/voice/recorded": ("", {**CALL, "RecordingUrl": "https://api.twilio.com/RE1", "RecordingDuration": "9"},
                               "RecordingUrl"),
    "/twilio/voice/status": ("", {**CALL, "CallStatus": "completed", "CallDuration": "3"}, "CallStatus"),
    "/twilio/voice/checkin": ("o=1", {**CALL, "AnsweredBy": "human"}, "AnsweredBy"),
    "/twilio/voice/checkin/status": ("o=1", {**CALL, "CallStatus": "busy"}, "CallStatus"),
    "/twilio/voice/message": ("o=1", CALL, "CallSid"),
    "/twilio/voice/greeting/recorded": ("n=liaison_menu", {**CALL, "RecordingUrl": "https://api.twilio.com/RE1"},
                                        "RecordingUrl"),
    "/twilio/voice/greeting/choice": ("n=liaison_menu&r=0&g=1", {**CALL, "Digits": "1"}, "Digits"),
}  # fmt: skip


def test_every_twilio_webhook_is_in_the_replay_table(settings: Settings, services: Services) -> None:
    app = create_app(settings, services)
    paths = {getattr(route, "path", "") for route in app.routes}
    assert {p for p in paths if p.startswith("/twilio/")} == set(WEBHOOKS)


def _stored(services: Services) -> list[int]:
    tables = (InboundMessage, Call, OutboundMessage, Task, TaskEvent, CheckinEvent, WebhookReceipt)
    with services.sessions() as session:
        return [session.scalar(select(func.count()).select_from(table)) or 0 for table in tables]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, redis_server: EmbeddedRedis) -> Iterator[Services]:
    """One database for the replay cases: each compares what is stored before and after its refused requests."""
    database = {"DATABASE_URL": TEST_DATABASE_URL} if TEST_DATABASE_URL else {}
    environ = make_environ(tmp_path_factory.mktemp("replay"), redis_server.url, **database)
    with fresh_services(load_settings(environ, env_file=None)) as built:
        household(built)
        yield built


@pytest.mark.parametrize("path", list(WEBHOOKS))
def test_a_signed_request_replayed_with_one_change_is_refused(shared: Services, path: str) -> None:
    settings, services = shared.settings, shared
    query, form, field = WEBHOOKS[path]
    url = settings.callback_url(path + (f"?{query}" if query else ""))
    signature = services.signature.sign(path, form, query)
    transport = httpx.ASGITransport(app=create_app(settings, services))
    other_query = query.replace("0", "1", 1) if "0" in query else f"{query}9" if query else "o=1"
    before = _stored(services)

    async def replay() -> list[int]:
        async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as client:
            headers = {SIGNATURE_HEADER: signature, TOKEN: f"replayed-{path}"}
            answers = [
                await client.post(url, data={**form, field: form[field] + "9"}, headers=headers),  # a field changed
                await client.post(f"{path}?{other_query}", data=form, headers=headers),  # the query changed
                await client.post(url, data={**form, "Extra": "1"}, headers=headers),  # a field added
            ]
            return [a.status_code for a in answers]

    assert asyncio.run(replay()) == [403, 403, 403]
    assert _stored(services) == before  # nothing stored, not even a receipt of the token
    genuine = deliver(settings, services, url, form, 1, **{TOKEN: f"genuine-{path}"})[0]
    assert genuine.status_code in (200, 204)  # the same request, unchanged, is taken


# ── at sending: the real client against the stand-in ─────────────────────────────────────────────────────────


class TestAtSending:
    @pytest.fixture
    def standin(self) -> Iterator[TwilioStandIn]:
        with TwilioStandIn() as server:
            yield server

    @pytest.fixture
    def environ(self, environ: dict[str, str], standin: TwilioStandIn) -> dict[str, str]:
        """Every test of this module sends through Twilio's REST API (the stand-in); rate limits are tested apart."""
        return {
            **environ,
            "HOTLINE_GATEWAY": "twilio",
            "TWILIO_ACCOUNT_SID": "AC" + "a" * 32,
            "TWILIO_API_BASE_URL": standin.base_url,
            "HOTLINE_SMS_PER_SECOND": "0",
            "HOTLINE_CPS": "0",
            "HOTLINE_DUTY_PHONE": "+8637166880000",
        }

    def test_an_offer_to_an_invalid_number_fails_for_good_and_climbs_at_once(
        self, settings: Settings, services: Services, standin: TwilioStandIn
    ) -> None:
        household(services)
        standin.fail_for[LIAISON_PHONE] = [(400, 21211)] * 3
        deliver(settings, services, settings.callback_url("/twilio/sms"), sms_params("买菜"), 1)
        run_worker(services)
        sweeper.sweep(grace_seconds=0)
        run_worker(services)
        offer = rows(services)["task:1:offer:0"]
        assert (offer.status, offer.error_code, offer.attempts) == ("failed", 21211, 1)
        assert asked(standin, LIAISON_PHONE) == 1  # never retried
        assert asked(standin, BACKUP_PHONE) == 1 and rows(services)["task:1:offer:1"].status == "sent"
        [(kind, _, detail)] = problems(services)
        assert kind == "liaison" and detail.startswith("Twilio 21211: invalid 'To' number")

    def test_check_in_sms_refused_at_sending_each_code_handled(
        self, settings: Settings, services: Services, standin: TwilioStandIn, clock: Clock, town: dict[str, int]
    ) -> None:
        refusals = {"梁阿姨": 21211, "王大爷": 30003, "刘奶奶": 30004, "陈伯": 30005, "赵姐": 30006, "吴叔": 21610}
        for name, code in refusals.items():
            standin.fail_for[PHONES[name]] = [(400, code)]
        standin.fail_for[PHONES["郑阿婆"]] = [(429, 63018)]  # throttled: tried again later
        clock.now = at("09:00")
        checkins.checkin_tick()
        run_worker(services)
        sent = {
            name: rows(services)[f"checkin:{checkin_id}:sms"]
            for name, checkin_id in _checkins(services).items()
            if name in refusals or name == "郑阿婆"
        }
        assert {name: (row.status, row.error_code) for name, row in sent.items()} == {
            **{name: ("failed", code) for name, code in refusals.items()},
            "郑阿婆": ("pending", None),
        }
        assert sent["郑阿婆"].error == "twilio 429 code 63018"  # back to pending, its job retried with backoff
        sends.send_sms(sent["郑阿婆"].id)  # its retry
        assert rows(services)[sent["郑阿婆"].dedupe_key].status == "sent" and asked(standin, PHONES["郑阿婆"]) == 2
        called = {name for name in PHONES if asked(standin, PHONES[name], "Calls")}
        # each refused check-in moved on to its call now; not the resident who opted out, nor the one sent later
        assert called == {"孙爷爷", *(set(refusals) - {"吴叔"})}
        assert all(asked(standin, PHONES[name]) == 1 for name in refusals)  # none retried
        with services.sessions() as session:
            landline = dict(session.execute(select(ResidentPhone.phone, ResidentPhone.landline)).all())
            opted_out = session.scalars(select(Checkin).where(Checkin.resident_id == town["吴叔"])).one()
            assert (opted_out.rung, [e.kind for e in opted_out.events]) == (0, ["sent"])  # no call, none pretended
        assert [name for name in PHONES if landline[PHONES[name]]] == ["赵姐", "孙爷爷"]
        assert sorted(object_id for _, object_id, _ in problems(services)) == sorted(
            town[name] for name in ("梁阿姨", "陈伯", "赵姐", "吴叔")
        )
