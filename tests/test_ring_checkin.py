"""Ring to check in (the Fukuoka model): a call from a resident in a ring mode is rejected unanswered and counted,
as "I am fine" or as "please call me back"; a call that ends before we answer counts the same; once per CallSid."""

from __future__ import annotations

from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.checkins.plans import set_plan
from dispatch.checkins.ring import ring_mode as ring_mode_of
from dispatch.checkins.ring import set_ring_mode
from dispatch.models import (
    AuditEntry,
    Checkin,
    CheckinEvent,
    CheckinStatus,
    Resident,
    ResidentStatus,
    Ring,
    RingMode,
    TaskCategory,
    TaskStatus,
)
from hotline.services import Services
from tests.api_helpers import bearer, issue
from tests.callflow import CallFlow, parse_voice_twiml
from tests.checkin_helpers import checkin_of, reply, texts_to, tick
from tests.conftest import LIAISON_PHONE, PHONES, Clock, at, run_worker, sent_to, tasks
from tests.console_helpers import make_user, sign_in


def ring_mode(services: Services, resident_id: int, mode: str) -> None:
    with services.sessions.begin() as session:
        set_ring_mode(session, resident_id, mode, "test")


def ring(client: TestClient, services: Services, clock: Clock, hhmm: str, name: str) -> CallFlow:
    clock.now = at(hhmm)
    flow = CallFlow(client, services, PHONES[name]).call()
    run_worker(services)
    return flow


def rejected(flow: CallFlow) -> bool:
    """The call was answered with <Reject reason="busy"/> and nothing was said."""
    assert flow.last_request is not None
    return flow.ended and flow.said == [] and flow.call_state.sid != "" and _last_reject(flow)


def _last_reject(flow: CallFlow) -> bool:
    status, text = flow._post(flow.last_request)  # type: ignore[arg-type]  # Twilio's retry of the same webhook
    root = parse_voice_twiml(text)
    return status == 200 and [(v.tag, v.attrib.get("reason")) for v in root] == [("Reject", "busy")]


def rings(services: Services) -> list[Ring]:
    with services.sessions() as session:
        return list(session.scalars(select(Ring).order_by(Ring.id)))


def events_of(services: Services, checkin_id: int) -> list[str]:
    with services.sessions() as session:
        return [e.detail for e in session.scalars(select(CheckinEvent).where(CheckinEvent.checkin_id == checkin_id))]


def test_a_ring_is_rejected_and_answers_the_check_in_fine_once(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    ring_mode(services, town["梁阿姨"], "fine")
    tick(services, clock, "09:00")
    flow = ring(client, services, clock, "09:30", "梁阿姨")
    assert rejected(flow)  # and its retry, the same CallSid, rejected again
    checkin = checkin_of(services, town["梁阿姨"])
    assert checkin.status == CheckinStatus.FINE
    assert "fine by ring" in events_of(services, checkin.id)
    # The rejected call's status report (busy), twice: nothing more, and no call-back task for a hang-up.
    assert flow.hang_up("busy", 0) == 204
    assert flow._post(flow.call_state.hang_up("busy", 0))[0] == 204
    run_worker(services)
    assert [(r.call_sid, r.how, r.outcome) for r in rings(services)] == [(flow.sid, "rejected", "fine")]
    assert tasks(services) == []
    # The ladder leaves an answered check-in alone: no reminder.
    tick(services, clock, "11:05")
    assert len(texts_to(services, PHONES["梁阿姨"])) == 1


def test_a_ring_before_the_day_is_made_answers_the_check_in_and_no_sms_goes(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    ring_mode(services, town["梁阿姨"], "fine")
    assert rejected(ring(client, services, clock, "07:30", "梁阿姨"))  # before the scheduler made today's rows
    assert checkin_of(services, town["梁阿姨"]).status == CheckinStatus.FINE
    tick(services, clock, "08:00")
    tick(services, clock, "09:00")
    assert texts_to(services, PHONES["梁阿姨"]) == []
    assert len(texts_to(services, PHONES["王大爷"])) == 1  # the others' check-ins went as usual


def test_with_two_check_ins_a_day_a_ring_answers_the_due_one_never_the_evening_one(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    """Under observation (09:00 and 17:00): the morning ring answers the morning check-in; another ring minutes
    later changes nothing, and the evening check-in still goes; a ring after 17:00 answers it."""
    ring_mode(services, town["梁阿姨"], "fine")
    with services.sessions.begin() as session:
        set_plan(
            session, services.intake.checkin, town["梁阿姨"], times=["09:00", "17:00"], actor="test", now=at("08:00")
        )
    tick(services, clock, "09:00")
    assert rejected(ring(client, services, clock, "09:10", "梁阿姨"))
    assert rejected(ring(client, services, clock, "09:16", "梁阿姨"))
    with services.sessions() as session:
        morning, evening = session.scalars(
            select(Checkin).where(Checkin.resident_id == town["梁阿姨"]).order_by(Checkin.due_at)
        ).all()
    assert morning.status == CheckinStatus.FINE and evening.status == CheckinStatus.SCHEDULED
    assert [r.outcome for r in rings(services)] == ["fine", "already"]
    tick(services, clock, "17:00")
    assert len(texts_to(services, PHONES["梁阿姨"])) == 2  # the evening check-in went
    assert rejected(ring(client, services, clock, "17:20", "梁阿姨"))
    assert checkin_of(services, town["梁阿姨"], "17:00").status == CheckinStatus.FINE
    assert [r.outcome for r in rings(services)] == ["fine", "already", "fine"]


def test_a_second_call_within_minutes_gets_the_menu(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    ring_mode(services, town["梁阿姨"], "fine")
    tick(services, clock, "09:00")
    assert rejected(ring(client, services, clock, "09:30", "梁阿姨"))
    again = ring(client, services, clock, "09:33", "梁阿姨")
    assert not again.ended and again.said  # the menu, greeted by name: a person can be reached
    assert "梁阿姨" in " ".join(again.said)
    assert rejected(ring(client, services, clock, "09:40", "梁阿姨"))  # later: a ring again
    assert [r.outcome for r in rings(services)] == ["fine", "already"]


def test_a_ring_never_overrides_unwell_and_the_caller_hears_the_menu(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    ring_mode(services, town["刘奶奶"], "fine")
    tick(services, clock, "09:00")
    reply(client, services, clock, "09:07", "刘奶奶", "发烧38.5度")
    flow = ring(client, services, clock, "09:30", "刘奶奶")
    assert not flow.ended and flow.said
    assert checkin_of(services, town["刘奶奶"]).status == CheckinStatus.UNWELL
    [urgent] = tasks(services)
    assert urgent.category == TaskCategory.UNWELL and urgent.status in TaskStatus.open()
    assert rings(services) == []


def test_a_ring_keeps_a_need_answered_earlier(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    ring_mode(services, town["王大爷"], "fine")
    tick(services, clock, "09:00")
    reply(client, services, clock, "09:06", "王大爷", "买药")
    assert rejected(ring(client, services, clock, "09:30", "王大爷"))  # an errand is not urgent: a ring
    assert checkin_of(services, town["王大爷"]).status == CheckinStatus.NEEDS
    assert [r.outcome for r in rings(services)] == ["kept"]
    [task] = tasks(services)
    assert task.category == TaskCategory.MEDICINE and task.status in TaskStatus.open()


def test_a_paused_residents_call_is_a_call(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    ring_mode(services, town["梁阿姨"], "fine")
    tick(services, clock, "09:00")
    with services.sessions.begin() as session:
        resident = session.get(Resident, town["梁阿姨"])
        assert resident is not None
        resident.status = ResidentStatus.PAUSED
    flow = ring(client, services, clock, "09:30", "梁阿姨")
    assert not flow.ended and flow.said
    assert rings(services) == []
    assert checkin_of(services, town["梁阿姨"]).status == CheckinStatus.SENT


def test_a_ring_means_call_me_back_once_a_day(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    ring_mode(services, town["梁阿姨"], "callback")
    tick(services, clock, "09:00")
    first = ring(client, services, clock, "09:30", "梁阿姨")
    assert rejected(first)
    assert rejected(ring(client, services, clock, "10:30", "梁阿姨"))
    [task] = tasks(services)
    assert (task.category, task.resident_id, task.status) == (TaskCategory.CALLBACK, town["梁阿姨"], TaskStatus.OFFERED)
    offers = [t for t in sent_to(services, LIAISON_PHONE) if "回电" in t]
    assert len(offers) == 1  # offered to the liaison like any task, once
    assert [(r.outcome, r.task_id) for r in rings(services)] == [("task", task.id), ("joined", task.id)]
    # The check-in itself is not answered by a call-back ring: the ladder goes on.
    assert checkin_of(services, town["梁阿姨"]).status == CheckinStatus.SENT


def test_a_call_that_ends_before_we_answer_counts_once(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    ring_mode(services, town["梁阿姨"], "fine")
    tick(services, clock, "09:00")
    clock.now = at("09:30")
    flow = CallFlow(client, services, PHONES["梁阿姨"])  # Twilio reports the call ended; our answer never asked for
    assert flow._post(flow.call_state.hang_up("canceled", 0))[0] == 204
    assert flow._post(flow.call_state.hang_up("canceled", 0))[0] == 204  # a retry
    run_worker(services)
    assert checkin_of(services, town["梁阿姨"]).status == CheckinStatus.FINE
    assert [(r.how, r.outcome) for r in rings(services)] == [("unanswered", "fine")]
    assert tasks(services) == []  # not the missed-call call-back task a hang-up would be otherwise


def test_without_a_ring_mode_a_hang_up_is_a_missed_call(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    tick(services, clock, "09:00")
    clock.now = at("09:30")
    flow = CallFlow(client, services, PHONES["梁阿姨"])
    assert flow._post(flow.call_state.hang_up("canceled", 0))[0] == 204
    run_worker(services)
    assert checkin_of(services, town["梁阿姨"]).status == CheckinStatus.NEEDS  # a call-back need, not "fine"
    assert [t.category for t in tasks(services)] == [TaskCategory.CALLBACK]
    assert rings(services) == []


def test_staff_set_the_ring_mode_on_the_residents_page(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    make_user(services)
    csrf = sign_in(client)
    url = f"/register/residents/{town['梁阿姨']}"
    page = client.get(url).text
    assert "响铃报平安" in page and 'value="off" checked' in page and "响铃＝请回电" in page
    for _ in range(2):  # a double click: one change, one audit entry
        saved = client.post(f"{url}/ring", data={"mode": "callback", "csrf_token": csrf}, follow_redirects=False)
        assert saved.status_code == 303 and saved.headers["location"] == f"{url}?ring=saved#ring"
    refused = client.post(f"{url}/ring", data={"mode": "sometimes", "csrf_token": csrf})
    assert refused.status_code == 422 and "请选一种响铃的意思" in refused.text
    with services.sessions() as session:
        assert ring_mode_of(session, town["梁阿姨"]) == RingMode.CALLBACK
        edits = session.scalars(select(AuditEntry.detail).where(AuditEntry.action == "edit")).all()
    assert edits == ["ring_mode_callback"]
    tick(services, clock, "09:00")
    assert rejected(ring(client, services, clock, "09:30", "梁阿姨"))
    page = client.get(url).text
    assert 'value="callback" checked' in page and "来电未接听：请回电，已派回电任务" in page
    [task] = tasks(services)
    history = client.get(f"/tasks/{task.id}").text
    assert "居民响铃后挂断，约定意思是“请回电”" in history


def test_the_api_reads_and_sets_the_ring_mode(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    headers = bearer(issue(services))
    url = f"/api/v1/residents/{town['梁阿姨']}/ring"
    assert client.get(url, headers=headers).json() == {"changed": False, "ring_mode": "off", "rings": []}
    put = client.put(url, json={"mode": "fine"}, headers=headers)
    assert put.status_code == 200 and put.json()["changed"] is True and put.json()["ring_mode"] == "fine"
    assert client.put(url, json={"mode": "fine"}, headers=headers).json()["changed"] is False  # a retry
    assert client.put(url, json={"mode": "sometimes"}, headers=headers).status_code == 422
    assert client.put(url, json={}, headers=headers).status_code == 422
    tick(services, clock, "09:00")
    assert rejected(ring(client, services, clock, "09:30", "梁阿姨"))
    [counted] = client.get(url, headers=headers).json()["rings"]
    assert (counted["how"], counted["outcome"]) == ("rejected", "fine")
    assert counted["checkin_id"] == checkin_of(services, town["梁阿姨"]).id
