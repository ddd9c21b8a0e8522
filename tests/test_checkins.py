"""The daily check-in, walked through one day of a community with a clock the test controls.

Real parts: SQLite (or PostgreSQL), redis-server, RQ workers, the webhooks through Starlette's TestClient with
Twilio's signatures, the local gateway. The phones are played by the test (SMS replies, CallFlow for calls).
"""

from __future__ import annotations

from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.checkins.report import coverage
from dispatch.models import (
    Checkin,
    CheckinEvent,
    CheckinStatus,
    OutboundMessage,
    TaskCategory,
    TaskPriority,
    TemperatureReading,
)
from dispatch.segments import count_segments
from hotline.jobs import checkins
from hotline.services import Services
from tests.checkin_helpers import answer_call, calls_to, checkin_of, reply, texts_to, tick
from tests.conftest import DAY, LIAISON_PHONE, PHONES, Clock, at, local_outbox, run_worker, tasks


def test_one_day_of_a_community(client: TestClient, services: Services, clock: Clock, town: dict[str, int]) -> None:
    # 08:00 and 08:59: the day's check-ins are made, and none is due.
    assert tick(services, clock, "08:00")["made"] == 9  # eight residents, one of them twice; not the opted-out
    assert tick(services, clock, "08:59")["sent"] == 0
    assert local_outbox(services) == []

    # 09:00: an SMS to each SMS resident, addressed by name, with the digit menu, in one segment; a call to the
    # landline. Ticking again (a second scheduler, a restart) sends nothing more.
    counts = tick(services, clock, "09:00")
    assert (counts["sent"], counts["called"]) == (7, 1)
    for name in ("梁阿姨", "王大爷", "刘奶奶", "陈伯", "赵姐", "吴叔", "郑阿婆"):
        [text] = texts_to(services, PHONES[name])
        assert text.startswith(f"{name}您好") and "1平安" in text and "0回电" in text
        assert count_segments(text).segments == 1
    assert texts_to(services, PHONES["周阿姨"]) == []
    [first_call] = calls_to(services, PHONES["孙爷爷"])
    assert "/twilio/voice/checkin?o=" in first_call.body
    checkins.forget_made_day(services)  # as after a restart
    assert tick(services, clock, "09:00") == dict.fromkeys(counts, 0)
    assert len(local_outbox(services)) == 8

    # Replies of every kind.
    reply(client, services, clock, "09:05", "梁阿姨", "1")
    reply(client, services, clock, "09:06", "王大爷", "买药")
    reply(client, services, clock, "09:07", "刘奶奶", "发烧38.5度")
    reply(client, services, clock, "09:08", "陈伯", "36.5")
    reply(client, services, clock, "09:20", "郑阿婆", "体温36.8")
    assert checkin_of(services, town["梁阿姨"]).status == CheckinStatus.FINE
    assert checkin_of(services, town["王大爷"]).status == CheckinStatus.NEEDS
    assert checkin_of(services, town["刘奶奶"]).status == CheckinStatus.UNWELL
    assert checkin_of(services, town["陈伯"]).status == CheckinStatus.FINE
    by_resident = {t.resident_id: t for t in tasks(services)}
    assert by_resident[town["王大爷"]].category == TaskCategory.MEDICINE
    assert (by_resident[town["刘奶奶"]].category, by_resident[town["刘奶奶"]].priority) == (
        TaskCategory.UNWELL,
        TaskPriority.URGENT,
    )
    with services.sessions() as session:
        readings = {r.resident_id: r.celsius for r in session.scalars(select(TemperatureReading))}
    assert readings == {town["刘奶奶"]: 38.5, town["陈伯"]: 36.5, town["郑阿婆"]: 36.8}

    # The landline was busy at 09:00: tried again ten minutes later, then answered, and the resident pressed 1.
    clock.now = at("09:00")
    assert answer_call(client, services, first_call).not_picked_up("busy") == 204
    assert checkin_of(services, town["孙爷爷"]).last_call_result == "busy"
    assert tick(services, clock, "09:09")["ladder"] == 0
    tick(services, clock, "09:10")
    second = calls_to(services, PHONES["孙爷爷"])[1]
    clock.now = at("09:11")
    flow = answer_call(client, services, second).pick_up()
    assert "孙爷爷您好" in " ".join(flow.said) and "平安无事请按1" in " ".join(flow.said)
    flow.press("1")
    assert flow.ended
    flow.hang_up()
    run_worker(services)
    assert checkin_of(services, town["孙爷爷"]).status == CheckinStatus.FINE

    # 11:00, the window closed: 赵姐 and 吴叔 have not answered. A reminder SMS and a call each.
    tick(services, clock, "11:00")
    for name in ("赵姐", "吴叔"):
        texts = texts_to(services, PHONES[name])
        assert len(texts) == 2 and "还没收到您今天的回复" in texts[1]
        assert len(calls_to(services, PHONES[name])) == 1
    assert len(texts_to(services, PHONES["梁阿姨"])) == 1  # answered: no reminder

    # 赵姐's reminder call rings out, and is tried again ten minutes later.
    [zhao_call] = calls_to(services, PHONES["赵姐"])
    answer_call(client, services, zhao_call).not_picked_up("no-answer")
    tick(services, clock, "11:10")
    assert len(calls_to(services, PHONES["赵姐"])) == 2

    # 12:00, the deadline: urgent visit tasks for the liaison, offered by SMS.
    tick(services, clock, "12:00")
    visits = [t for t in tasks(services) if t.category == TaskCategory.VISIT]
    assert {t.resident_id for t in visits} == {town["赵姐"], town["吴叔"]}
    assert all(t.priority == TaskPriority.URGENT and t.assignee_liaison_id is not None for t in visits)
    offers = [b for b in texts_to(services, LIAISON_PHONE) if "上门看看" in b]
    assert len(offers) == 2
    assert tick(services, clock, "12:01")["ladder"] == 0  # nothing twice

    # 吴叔 answers at 12:30, after the visit was asked for: it still counts.
    reply(client, services, clock, "12:30", "吴叔", "1")
    assert checkin_of(services, town["吴叔"]).status == CheckinStatus.FINE

    # 15:00: the second check-in of the resident under observation; she answers.
    assert tick(services, clock, "15:00")["sent"] == 1
    assert len(texts_to(services, PHONES["郑阿婆"])) == 2
    reply(client, services, clock, "15:10", "郑阿婆", "1 36.6")

    # The coverage report, right to the resident.
    with services.readonly() as session:
        report = coverage(session, DAY, at("15:30"))
    assert report.total.counts == {
        "due": 8,
        "fine": 5,
        "needs": 1,
        "unwell": 1,
        "not_reached": 0,
        "visit_pending": 1,
        "visited": 0,
        "opted_out": 1,
    }
    assert round(report.total.known_percent, 1) == 87.5
    standings = {r.name: r.standing for r in report.residents}
    assert standings == {
        "梁阿姨": "fine",
        "王大爷": "needs",
        "刘奶奶": "unwell",
        "陈伯": "fine",
        "赵姐": "visit_pending",
        "孙爷爷": "fine",
        "吴叔": "fine",
        "郑阿婆": "fine",
    }
    assert [r.name for r in report.residents[:2]] == ["刘奶奶", "赵姐"]  # not reached and unwell first
    with services.sessions() as session:
        zhao = session.scalars(
            select(CheckinEvent.kind).join(Checkin).where(Checkin.resident_id == town["赵姐"]).order_by(CheckinEvent.id)
        ).all()
    assert zhao == ["sent", "reminded", "called", "call_result", "called", "visit"]


def test_a_check_in_call_is_retried_three_times_then_no_more(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    tick(services, clock, "09:00")
    results = ["busy", "no-answer", "machine", "no-answer"]
    for n, result in enumerate(results):
        entries = calls_to(services, PHONES["孙爷爷"])
        assert len(entries) == n + 1
        flow = answer_call(client, services, entries[-1])
        if result == "machine":
            flow.pick_up("machine_start")
            assert flow.ended and flow.said == []  # hung up on the machine
            flow.hang_up()
        else:
            flow.not_picked_up(result)
        tick(services, clock, f"09:{10 * (n + 1):02d}")
    assert len(calls_to(services, PHONES["孙爷爷"])) == 4  # the first call and three retries
    checkin = checkin_of(services, town["孙爷爷"])
    assert (checkin.calls_placed, checkin.calls_left, checkin.next_call_at) == (4, 0, None)
    with services.sessions() as session:
        mine = OutboundMessage.checkin_id == checkin.id
        outcomes = session.scalars(select(OutboundMessage.call_result).where(mine).order_by(OutboundMessage.id)).all()
    assert outcomes == results


def test_a_repeated_status_report_schedules_one_retry(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    tick(services, clock, "09:00")
    [entry] = calls_to(services, PHONES["孙爷爷"])
    flow = answer_call(client, services, entry)
    flow.not_picked_up("busy")
    flow.not_picked_up("busy")  # Twilio retried its callback at once
    tick(services, clock, "09:10")
    clock.now = at("09:11")
    flow.not_picked_up("busy")  # and again, late, while the second call is ringing
    tick(services, clock, "09:20")
    assert len(calls_to(services, PHONES["孙爷爷"])) == 2
    with services.sessions() as session:
        results = session.scalars(select(CheckinEvent.detail).where(CheckinEvent.kind == "call_result")).all()
    assert results == ["call 1: busy; again at 2030-03-04T01:10+00:00"]


def test_silence_on_the_check_in_call_replays_once_then_a_person_will_call(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    tick(services, clock, "09:00")
    [entry] = calls_to(services, PHONES["孙爷爷"])
    flow = answer_call(client, services, entry).pick_up()
    flow.silence()
    assert not flow.ended and "平安无事请按1" in flow.last_said  # the menu once more
    flow.silence()
    assert flow.ended and "张敏会尽快给您回电话" in " ".join(flow.said)
    flow.hang_up()
    run_worker(services)
    [task] = tasks(services)
    assert (task.category, task.resident_id) == (TaskCategory.CALLBACK, town["孙爷爷"])
    assert checkin_of(services, town["孙爷爷"]).status == CheckinStatus.NEEDS
    tick(services, clock, "09:10")
    assert len(calls_to(services, PHONES["孙爷爷"])) == 1  # a person picked up: no retry


def test_pressing_0_on_a_check_in_call_reaches_a_person_and_counts(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    tick(services, clock, "09:00")
    [entry] = calls_to(services, PHONES["孙爷爷"])
    clock.now = at("09:01")
    flow = answer_call(client, services, entry).pick_up()
    flow.press("0")
    assert flow.dialled == [LIAISON_PHONE]
    flow.answer()
    flow.hang_up()
    assert checkin_of(services, town["孙爷爷"]).status == CheckinStatus.NEEDS
    tick(services, clock, "09:15")
    tick(services, clock, "11:00")
    assert len(calls_to(services, PHONES["孙爷爷"])) == 1  # reached: no retry, no reminder call


def test_a_reply_read_only_in_part_never_answers_the_check_in_as_fine(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    tick(services, clock, "09:00")
    reply(client, services, clock, "09:05", "梁阿姨", "体温36.5，暖气坏了好冷")  # a temperature, and words not read
    reply(client, services, clock, "09:06", "王大爷", "我不太舒服")  # softened, still unwell
    reply(client, services, clock, "09:07", "刘奶奶", "好的，就是有点头晕")  # fine-words do not cancel a health word
    reply(client, services, clock, "09:08", "陈伯", "家里没米了")
    reply(client, services, clock, "09:09", "赵姐", "蛮好的，放心")
    status = {name: checkin_of(services, town[name]).status for name in ("梁阿姨", "王大爷", "刘奶奶", "陈伯", "赵姐")}
    assert status == {
        "梁阿姨": CheckinStatus.NEEDS,  # a clerk reads it: not fine
        "王大爷": CheckinStatus.UNWELL,
        "刘奶奶": CheckinStatus.UNWELL,
        "陈伯": CheckinStatus.NEEDS,
        "赵姐": CheckinStatus.FINE,
    }
    by_resident = {t.resident_id: (t.category, t.priority) for t in tasks(services)}
    assert by_resident == {
        town["梁阿姨"]: (TaskCategory.OTHER, TaskPriority.NORMAL),
        town["王大爷"]: (TaskCategory.UNWELL, TaskPriority.URGENT),
        town["刘奶奶"]: (TaskCategory.UNWELL, TaskPriority.URGENT),
        town["陈伯"]: (TaskCategory.GROCERIES, TaskPriority.NORMAL),
    }
    with services.sessions() as session:
        readings = {r.resident_id: r.celsius for r in session.scalars(select(TemperatureReading))}
    assert readings == {town["梁阿姨"]: 36.5}  # kept, though the message goes to a clerk
