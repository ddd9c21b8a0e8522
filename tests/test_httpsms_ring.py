"""Ring to check in on a community's own SIM: httpSMS on the street office's Android phone reports each missed call
(`message.call.missed`, a CloudEvent signed with a JWT), and a resident's ring to that SIM counts as a ring to the
hotline; a call that cannot be a ring is a call-back, since nobody answered it. Requests are made as httpSMS's API
server makes them (tests/standins/httpsms.py)."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.checkins.ring import set_ring_mode
from dispatch.models import CheckinStatus, InboundMessage, Ring, TaskCategory, TaskPriority, TaskStatus
from hotline.app import create_app
from hotline.exceptions import SettingsError
from hotline.services import Services
from hotline.settings import load_settings
from tests.checkin_helpers import checkin_of, reply, tick
from tests.conftest import DAY, LIAISON_PHONE, PHONES, PUBLIC_URL, Clock, at, run_worker, sent_to, tasks
from tests.console_helpers import make_user, sign_in
from tests.route_requests import phone_forms, row_counts
from tests.standins.httpsms import missed_call_event, other_event, token, webhook

KEY = "a-signing-key-of-the-street-offices-phone-0123456789-abcdefghijklmnop"
URL = PUBLIC_URL + "/httpsms/events"
OTHER_KEY = "another-key-of-someone-elses-phone-0123456789-abcdefghijklmnopqrst"
STRANGER = "+8613700000777"


@pytest.fixture
def environ(environ: dict[str, str]) -> dict[str, str]:
    return {**environ, "HTTPSMS_SIGNING_KEY": KEY}


def post(client: TestClient, event: dict[str, object], bearer: str | None = "") -> int:
    """POST the event as httpSMS does; `bearer` "" (the default): a good token made now; None: no token."""
    body, headers = webhook(event, token(KEY, URL) if bearer == "" else bearer)
    return client.post("/httpsms/events", content=body, headers=headers).status_code


def missed(client: TestClient, services: Services, clock: Clock, hhmm: str, phone: str) -> dict[str, object]:
    """A call from `phone` missed on the SIM at `hhmm` and reported at once; the event posted."""
    clock.now = at(hhmm)
    event = missed_call_event(phone, clock.now)
    assert post(client, event) == 200
    run_worker(services)
    return event


def ring_mode(services: Services, resident_id: int, mode: str) -> None:
    with services.sessions.begin() as session:
        set_ring_mode(session, resident_id, mode, "test")


def rings(services: Services) -> list[tuple[str, str, int | None]]:
    """Each ring: its key, how and outcome, oldest first."""
    with services.sessions() as session:
        return [(r.call_sid, r.how, r.outcome) for r in session.scalars(select(Ring).order_by(Ring.id))]


def callbacks(services: Services) -> list[tuple[TaskPriority, TaskStatus]]:
    return [(t.priority, t.status) for t in tasks(services) if t.category == TaskCategory.CALLBACK]


def test_a_missed_call_from_a_fine_mode_resident_answers_the_check_in(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    ring_mode(services, town["梁阿姨"], "fine")
    tick(services, clock, "09:00")
    event = missed(client, services, clock, "09:30", PHONES["梁阿姨"].removeprefix("+86"))  # as dialled: national
    checkin = checkin_of(services, town["梁阿姨"])
    assert checkin.status == CheckinStatus.FINE
    [(key, how, outcome)] = rings(services)
    assert key.startswith("httpsms:") and (how, outcome) == ("sim", "fine")
    assert str(event["id"]) not in key  # known by the call, not by the event that reported it
    assert tasks(services) == []
    tick(services, clock, "11:05")
    assert sent_to(services, PHONES["梁阿姨"])[1:] == []  # no reminder: the check-in was answered
    make_user(services)
    sign_in(client)
    assert "打社区手机未接：报平安" in client.get(f"/register/residents/{town['梁阿姨']}").text


def test_callback_mode_makes_one_call_back_task_a_day(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    ring_mode(services, town["梁阿姨"], "callback")
    tick(services, clock, "09:00")
    missed(client, services, clock, "09:30", PHONES["梁阿姨"])
    missed(client, services, clock, "10:30", PHONES["梁阿姨"])
    [task] = tasks(services)
    assert (task.category, task.resident_id, task.status) == (TaskCategory.CALLBACK, town["梁阿姨"], TaskStatus.OFFERED)
    assert len([t for t in sent_to(services, LIAISON_PHONE) if "回电" in t]) == 1
    assert [outcome for _, _, outcome in rings(services)] == ["task", "joined"]
    assert checkin_of(services, town["梁阿姨"]).status == CheckinStatus.SENT  # the check-in's ladder goes on


def test_the_same_event_sent_again_counts_once(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    ring_mode(services, town["梁阿姨"], "callback")
    tick(services, clock, "09:00")
    event = missed(client, services, clock, "09:30", PHONES["梁阿姨"])
    before = row_counts(services)
    clock.now = at("09:31")
    assert post(client, event) == 200  # httpSMS's retry: the same event, a new token
    assert row_counts(services) == before  # no row, and no job queued
    assert len(rings(services)) == 1 and len(tasks(services)) == 1
    # The phone retrying a report the server took: the server sends the same call again, as an event of its own.
    again = missed_call_event(PHONES["梁阿姨"], at("09:30"))
    assert again["id"] != event["id"]
    assert post(client, again) == 200
    assert row_counts(services) == before
    # Without a ring mode the call is a call-back need, stored once however often it comes too.
    event = missed(client, services, clock, "09:40", PHONES["王大爷"])
    assert post(client, event) == 200
    run_worker(services)
    with services.sessions() as session:
        stored = session.scalars(select(InboundMessage.provider_sid).where(InboundMessage.channel == "voice")).all()
    assert len(stored) == 1 and stored[0].startswith("httpsms:")
    assert len(callbacks(services)) == 2


@pytest.mark.parametrize(
    "bearer",
    [
        pytest.param(None, id="no token"),
        pytest.param("not-a-jwt", id="not a token"),
        pytest.param(token(OTHER_KEY, URL), id="bad signature"),
        pytest.param(token(KEY, URL, now=time.time() - 3600), id="expired"),
        pytest.param(token(KEY, URL, algorithm="HS512"), id="HS512"),
        pytest.param(token(KEY, URL, algorithm="none"), id="alg none"),
        pytest.param(token(KEY, "https://elsewhere.example.org/httpsms/events"), id="another URL"),
        pytest.param(token(KEY, URL, aud=None), id="no audience"),
        pytest.param(token(KEY, URL, exp=None), id="no expiry"),
    ],
)
def test_a_request_without_a_good_token_is_refused_and_stores_nothing(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int], bearer: str | None
) -> None:
    ring_mode(services, town["梁阿姨"], "fine")
    tick(services, clock, "09:00")
    before = row_counts(services)
    clock.now = at("09:30")
    assert post(client, missed_call_event(PHONES["梁阿姨"], clock.now), bearer) == 403
    assert row_counts(services) == before  # no row, and no job queued
    run_worker(services)
    assert checkin_of(services, town["梁阿姨"]).status == CheckinStatus.SENT


def test_without_the_signing_key_set_everything_is_refused(services: Services, town: dict[str, int]) -> None:
    unset = replace(services.settings, httpsms_signing_key=None)
    with TestClient(create_app(unset, replace(services, settings=unset)), base_url=PUBLIC_URL) as bare:
        before = row_counts(services)
        assert post(bare, missed_call_event(PHONES["梁阿姨"], at("09:30"))) == 403
        assert row_counts(services) == before


def test_a_short_signing_key_is_refused_at_start(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="HTTPSMS_SIGNING_KEY"):
        load_settings({**environ, "HTTPSMS_SIGNING_KEY": "short-key"}, env_file=None)


def test_other_events_and_unknown_numbers_store_nothing(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    ring_mode(services, town["梁阿姨"], "fine")
    tick(services, clock, "09:00")
    before = row_counts(services)
    clock.now = at("09:30")
    for kind in ("message.phone.received", "message.phone.sent", "phone.heartbeat.offline"):
        assert post(client, other_event(kind, PHONES["梁阿姨"])) == 200
    assert post(client, missed_call_event(STRANGER, clock.now)) == 200
    assert post(client, missed_call_event("", clock.now)) == 200  # a withheld number
    assert row_counts(services) == before  # no row, and no job queued
    run_worker(services)
    assert checkin_of(services, town["梁阿姨"]).status == CheckinStatus.SENT


def test_a_malformed_missed_call_is_a_400_naming_the_field(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    before = row_counts(services)
    event = missed_call_event(PHONES["梁阿姨"], at("09:30"))
    for field, broken in (
        ("id", {**event, "id": ""}),
        ("data.contact", {**event, "data": {**event["data"], "contact": 13900000001}}),  # type: ignore[dict-item]
        ("data.timestamp", {**event, "data": {**event["data"], "timestamp": "yesterday"}}),  # type: ignore[dict-item]
    ):
        body, headers = webhook(broken, token(KEY, URL))
        response = client.post("/httpsms/events", content=body, headers=headers)
        assert response.status_code == 400 and field in response.text, (field, response.text)
    _, headers = webhook(event, token(KEY, URL))
    assert client.post("/httpsms/events", content=b"{", headers=headers).status_code == 400
    assert client.post("/httpsms/events", content=b"x" * 20_000, headers=headers).status_code == 413
    assert row_counts(services) == before


def test_a_shared_number_never_counts_as_a_ring(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    ring_mode(services, town["梁阿姨"], "fine")
    with services.sessions.begin() as session:  # her husband, on the same number
        register.add_resident(
            session,
            name="梁大爷",
            phones=[PHONES["梁阿姨"]],
            liaison_phone=LIAISON_PHONE,
            address=register.Address("幸福里社区", "1号楼", "1单元", "101"),
            region="CN",
        )
    tick(services, clock, "09:00")
    missed(client, services, clock, "09:30", PHONES["梁阿姨"])
    assert rings(services) == []
    assert checkin_of(services, town["梁阿姨"]).status != CheckinStatus.FINE
    assert callbacks(services) == [(TaskPriority.NORMAL, TaskStatus.OFFERED)]


def test_unwell_today_a_missed_call_is_an_urgent_call_back_never_fine(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    ring_mode(services, town["刘奶奶"], "fine")
    tick(services, clock, "09:00")
    reply(client, services, clock, "09:07", "刘奶奶", "发烧38.5度")
    missed(client, services, clock, "09:30", PHONES["刘奶奶"])
    assert rings(services) == []
    assert checkin_of(services, town["刘奶奶"]).status == CheckinStatus.UNWELL
    assert [t.category for t in tasks(services)] == [TaskCategory.UNWELL, TaskCategory.CALLBACK]
    assert callbacks(services)[0][0] == TaskPriority.URGENT


def test_without_a_ring_mode_a_missed_call_is_a_call_back(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    tick(services, clock, "09:00")
    missed(client, services, clock, "09:30", PHONES["梁阿姨"])
    assert rings(services) == []
    assert callbacks(services) == [(TaskPriority.NORMAL, TaskStatus.OFFERED)]
    assert checkin_of(services, town["梁阿姨"]).status == CheckinStatus.NEEDS  # as a hotline hang-up: not "fine"


def test_a_second_call_within_minutes_or_a_late_report_is_a_call_back(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    ring_mode(services, town["梁阿姨"], "fine")
    ring_mode(services, town["王大爷"], "fine")
    tick(services, clock, "09:00")
    missed(client, services, clock, "09:30", PHONES["梁阿姨"])
    missed(client, services, clock, "09:33", PHONES["梁阿姨"])  # again at once: they may need someone
    assert [outcome for _, _, outcome in rings(services)] == ["fine"]
    assert callbacks(services) == [(TaskPriority.NORMAL, TaskStatus.OFFERED)]
    clock.now = at("10:30")  # rang at 09:45, reported 45 minutes later: no "fine" for a call long over
    late = missed_call_event(PHONES["王大爷"], at("09:45"))
    assert post(client, late) == 200
    run_worker(services)
    assert checkin_of(services, town["王大爷"]).status != CheckinStatus.FINE
    assert len(rings(services)) == 1 and len(callbacks(services)) == 2


def test_the_log_holds_no_full_number(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ring_mode(services, town["梁阿姨"], "fine")
    tick(services, clock, "09:00")
    missed(client, services, clock, "09:30", PHONES["梁阿姨"])
    missed(client, services, clock, "09:40", PHONES["王大爷"])
    assert post(client, missed_call_event(PHONES["赵姐"], at("09:45")), bearer=None) == 403
    expired = token(KEY, URL, now=time.time() - 3600)
    assert post(client, missed_call_event(PHONES["赵姐"], at("09:46")), expired) == 403
    assert "httpsms missed call" in caplog.text and "httpsms webhook refused" in caplog.text
    for phone in (PHONES["梁阿姨"], PHONES["王大爷"], PHONES["赵姐"]):
        assert not any(form in caplog.text for form in phone_forms(phone)), phone
    assert KEY not in caplog.text and expired not in caplog.text and "expired token" in caplog.text


def test_a_token_of_a_moment_ago_from_a_slow_clock_still_passes(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    """httpSMS's server clock a little behind ours: its token's exp is near, but inside the leeway."""
    ring_mode(services, town["梁阿姨"], "fine")
    tick(services, clock, "09:00")
    clock.now = at("09:30")
    event = missed_call_event(PHONES["梁阿姨"], clock.now, event_id=str(uuid.uuid4()))
    assert post(client, event, token(KEY, URL, now=time.time() - 630)) == 200  # expired 30 s ago
    assert checkin_of(services, town["梁阿姨"]).status == CheckinStatus.FINE


def test_a_time_out_of_range_is_a_400_naming_it_not_a_crash(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    """A timestamp that reads as a time but has no instant in UTC (year 1 at +14:00) is refused like any bad one."""
    ring_mode(services, town["梁阿姨"], "fine")
    tick(services, clock, "09:00")
    before = row_counts(services)
    clock.now = at("09:30")
    event = missed_call_event(PHONES["梁阿姨"], clock.now)
    for moment in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        broken = {**event, "data": {**event["data"], "timestamp": moment}}  # type: ignore[dict-item]
        body, headers = webhook(broken, token(KEY, URL))
        response = client.post("/httpsms/events", content=body, headers=headers)
        assert response.status_code == 400 and "data.timestamp" in response.text, (moment, response.text)
    assert row_counts(services) == before


def test_a_call_missed_before_midnight_and_reported_after_is_no_fine_for_the_new_day(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    """梁阿姨 rang the SIM at 23:50; the phone reported it at 00:05. Yesterday's ring says nothing of today: today's
    check-in still goes, and the call is a call-back, as any call that cannot be a ring."""
    ring_mode(services, town["梁阿姨"], "fine")
    clock.now = at("00:05")
    assert post(client, missed_call_event(PHONES["梁阿姨"], at("23:50", DAY - timedelta(days=1)))) == 200
    run_worker(services)
    assert rings(services) == []
    assert callbacks(services) == [(TaskPriority.NORMAL, TaskStatus.OFFERED)]
    tick(services, clock, "09:00")
    assert checkin_of(services, town["梁阿姨"]).status == CheckinStatus.SENT
