"""The daily check-in, walked through one day of a community with a clock the test controls.

Real parts: SQLite (or PostgreSQL), redis-server, RQ workers, the webhooks through Starlette's TestClient with
Twilio's signatures, the local gateway. The phones are played by the test (SMS replies, CallFlow for calls).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from dispatch.checkins.report import coverage
from dispatch.models import (
    Checkin,
    CheckinEvent,
    CheckinStatus,
    LocalOutboxEntry,
    OutboundMessage,
    Resident,
    ResidentStatus,
    TaskCategory,
    TaskPriority,
    TemperatureReading,
)
from dispatch.segments import count_segments
from hotline.jobs import checkins as checkin_jobs
from hotline.services import Services
from tests.callflow import CallFlow
from tests.conftest import (
    DAY,
    LIAISON_PHONE,
    PHONES,
    ZONE,
    Clock,
    at,
    local_outbox,
    post_signed,
    run_worker,
    sms_params,
    tasks,
)


def tick(services: Services, clock: Clock, hhmm: str) -> dict[str, int]:
    clock.now = at(hhmm)
    counts = checkin_jobs.checkin_tick()
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
    checkin_jobs.forget_made_day(services)  # as after a restart
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


def test_a_slot_missed_while_down_goes_late_but_not_in_quiet_hours(
    services: Services, clock: Clock, town: dict[str, int]
) -> None:
    # Down all morning: the first tick at 10:30 sends the 09:00 check-ins late, with the ladder from then.
    counts = tick(services, clock, "10:30")
    assert counts["sent"] == 7
    checkin = checkin_of(services, town["赵姐"])
    assert checkin.sent_at == at("10:30")
    # The visit comes once the reminder's call and its three retries, ten minutes apart, have been placed.
    assert (checkin.reminder_at, checkin.visit_at) == (at("12:30"), at("13:00"))


def test_quiet_hours_hold(services: Services, clock: Clock, town: dict[str, int]) -> None:
    # Down until 21:30: it is quiet hours, so nothing goes to the residents; staff see them as not reached.
    counts = tick(services, clock, "21:30")
    assert counts["missed_quiet"] == 9 and counts["sent"] == counts["called"] == 0
    assert local_outbox(services) == []
    with services.readonly() as session:
        report = coverage(session, DAY, at("21:31"))
    assert report.total.counts["not_reached"] == 8
    assert tick(services, clock, "23:59") == dict.fromkeys(counts, 0)
    assert local_outbox(services) == []


def test_a_reminder_due_in_quiet_hours_is_not_sent(services: Services, clock: Clock, town: dict[str, int]) -> None:
    from dispatch.checkins.plans import set_plan

    with services.sessions.begin() as session:
        set_plan(session, services.intake.checkin, town["赵姐"], times=["20:00"], actor="test", now=clock.now)
        session.execute(update(Resident).where(Resident.id != town["赵姐"]).values(status=ResidentStatus.PAUSED))
    clock.now = at("07:00")
    checkin_jobs.checkin_tick()
    tick(services, clock, "20:00")
    assert len(texts_to(services, PHONES["赵姐"])) == 1
    tick(services, clock, "22:00")  # the reminder's time is in quiet hours
    assert len(texts_to(services, PHONES["赵姐"])) == 1 and calls_to(services, PHONES["赵姐"]) == []
    assert checkin_of(services, town["赵姐"], "20:00").rung == 1


def test_a_plan_in_quiet_hours_is_refused(services: Services, town: dict[str, int]) -> None:
    from dispatch.checkins.plans import set_plan
    from dispatch.exceptions import InvalidPlan

    with services.sessions.begin() as session, pytest.raises(InvalidPlan, match="quiet hours"):
        set_plan(session, services.intake.checkin, town["赵姐"], times=["22:30"], actor="test")


def test_an_observation_plan_ends_by_itself(services: Services, clock: Clock, town: dict[str, int]) -> None:
    from dispatch.checkins.plans import set_plan

    with services.sessions.begin() as session:
        set_plan(
            session,
            services.intake.checkin,
            town["梁阿姨"],
            times=["08:00", "14:00"],
            actor="test",
            starts_on=date(2030, 2, 20),
            ends_on=date(2030, 3, 5),
            now=clock.now,
        )
    tick(services, clock, "07:30")
    with services.sessions() as session:
        slots = session.scalars(select(Checkin.slot).where(Checkin.resident_id == town["梁阿姨"])).all()
    assert sorted(slots) == ["08:00", "14:00"]
    next_week = datetime.combine(date(2030, 3, 6), time(7, 30), ZONE).astimezone(UTC)
    clock.now = next_week
    checkin_jobs.checkin_tick()
    with services.sessions() as session:
        later = session.scalars(
            select(Checkin.slot).where(Checkin.resident_id == town["梁阿姨"], Checkin.local_date == date(2030, 3, 6))
        ).all()
    assert later == ["09:00"]  # back to the default of her categories


def test_staff_call_the_unreached_from_the_command_line(
    environ: dict[str, str], client: TestClient, services: Services, town: dict[str, int]
) -> None:
    """`hotline checkins tick`, `report today` and `call --not-reached` on the real clock: quiet hours and the
    check-in time are set around now, so the test means the same at any hour."""
    from datetime import timedelta

    from click.testing import CliRunner

    from hotline.cli import main

    local = datetime.now(ZONE)
    slot = max(local - timedelta(minutes=1), local.replace(hour=0, minute=0))
    env = {
        **environ,
        "HOTLINE_CHECKIN_TIMES": f"{slot:%H:%M}",
        "HOTLINE_CHECKIN_DEADLINE": f"{slot:%H:%M}",  # whatever the hour, the slot's own ladder is its deadline
        "HOTLINE_QUIET_HOURS": f"{local + timedelta(hours=2):%H:%M}-{local + timedelta(hours=3):%H:%M}",
    }
    with services.sessions.begin() as session:
        session.execute(update(Resident).values(created_at=datetime.now(UTC) - timedelta(days=30)))
    # The in-process worker of this test keeps the same rules as the commands.
    quiet = (time.fromisoformat(env["HOTLINE_QUIET_HOURS"][:5]), time.fromisoformat(env["HOTLINE_QUIET_HOURS"][6:]))
    services.intake = replace(services.intake, checkin=replace(services.intake.checkin, quiet_hours=quiet))
    runner = CliRunner(env=env)
    ticked = runner.invoke(main, ["checkins", "tick"])
    assert ticked.exit_code == 0, ticked.output
    assert "sent=7" in ticked.output and "called=1" in ticked.output
    run_worker(services)
    reply_now = sms_params("1", from_phone=PHONES["梁阿姨"])
    assert post_signed(client, services, "/twilio/sms", reply_now).status_code == 200
    run_worker(services)

    report = runner.invoke(main, ["report", "today", "--residents"])
    assert report.exit_code == 0, report.output
    assert "not_reached   幸福里社区/第1网格  赵姐" in report.output
    assert "fine          幸福里社区/第1网格  梁阿姨" in report.output

    assert runner.invoke(main, ["call"]).exit_code == 2  # no selection: refused, never "everyone"
    called = runner.invoke(main, ["call", "--not-reached", "--yes"])
    assert called.exit_code == 0, called.output
    # All but 梁阿姨 (fine) and 周阿姨 (opted out); the landline's check-in call is still on its way.
    assert "calling 6" in called.output and f"resident {town['孙爷爷']}: a call is on its way" in called.output
    run_worker(services)
    again = runner.invoke(main, ["call", "--not-reached", "--yes"])  # a second click in the same minute
    run_worker(services)
    assert "calling 0" in again.output and again.output.count("a call is on its way") == 7
    calls = [e for e in local_outbox(services) if e.kind == "call"]
    assert len(calls) == 1 + 6  # the landline's check-in call, then one staff call each
    assert PHONES["梁阿姨"] not in {c.to_phone for c in calls}


def test_the_sweeper_rebuilds_lost_campaign_work_in_batches(
    services: Services, clock: Clock, town: dict[str, int]
) -> None:
    """Redis lost the queued check-ins (wiped): the database still has them pending, and the sweeper queues them
    again as batches on the check-in queue, behind task SMS, and they are sent once."""
    from rq import Queue

    from hotline.jobs.sweeper import sweep
    from workers.queues import CHECKINS, OUTBOUND

    clock.now = at("09:00")
    checkin_jobs.checkin_tick()
    services.redis.flushall()
    assert sweep(grace_seconds=0)["outbound"] == 8
    assert Queue(OUTBOUND, connection=services.redis).count == 0
    assert len(Queue(CHECKINS, connection=services.redis)) == 1
    run_worker(services)
    assert len(local_outbox(services)) == 8
    assert sweep(grace_seconds=0)["outbound"] == 0


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


def test_a_reply_before_the_reminder_goes_out_cancels_it(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    tick(services, clock, "09:00")
    clock.now = at("11:00")
    checkin_jobs.checkin_tick()  # the reminders are decided…
    reply(client, services, clock, "11:00", "赵姐", "1")  # …and she answers before the worker hands them over
    assert len(texts_to(services, PHONES["赵姐"])) == 1 and calls_to(services, PHONES["赵姐"]) == []
    assert len(texts_to(services, PHONES["吴叔"])) == 2  # still waiting: reminded
    with services.sessions() as session:
        cancelled = session.scalars(select(CheckinEvent.detail).where(CheckinEvent.kind == "cancelled")).all()
    assert cancelled == ["not sent: answered (fine)"] * 2  # the reminder SMS and the call


def test_a_staff_call_does_not_unmake_fine(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    from dispatch.checkins.staff_calls import call_residents

    tick(services, clock, "09:00")
    reply(client, services, clock, "09:05", "梁阿姨", "1")
    clock.now = at("14:00")
    with services.sessions.begin() as session:
        assert call_residents(session, [town["梁阿姨"]], clock.now, services.intake, actor="test").called
    with services.readonly() as session:
        report = coverage(session, DAY, at("18:00"))
    assert {r.name: r.standing for r in report.residents}["梁阿姨"] == "fine"


def test_a_plan_changed_mid_day_replaces_today_and_sends_nothing_late(
    services: Services, clock: Clock, town: dict[str, int]
) -> None:
    from dispatch.checkins.plans import clear_plan, set_plan

    tick(services, clock, "08:00")
    with services.sessions.begin() as session:
        set_plan(session, services.intake.checkin, town["梁阿姨"], times=["10:00"], actor="test", now=at("08:30"))
    tick(services, clock, "09:00")
    assert texts_to(services, PHONES["梁阿姨"]) == []  # 09:00 is no longer hers
    tick(services, clock, "10:00")
    assert len(texts_to(services, PHONES["梁阿姨"])) == 1
    with services.sessions.begin() as session:
        assert clear_plan(session, services.intake.checkin, town["梁阿姨"], now=at("14:00"))
    tick(services, clock, "14:01")
    # The default 09:00 is past: not sent late. (The 10:00 check-in, unanswered, has had its reminder.)
    assert [t for t in texts_to(services, PHONES["梁阿姨"]) if "每日问候" in t] == texts_to(services, PHONES["梁阿姨"])[
        :1
    ]
    with services.sessions() as session:
        slots = dict(
            session.execute(select(Checkin.slot, Checkin.status).where(Checkin.resident_id == town["梁阿姨"])).all()
        )
    assert slots == {"09:00": CheckinStatus.SKIPPED, "10:00": CheckinStatus.SENT}


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
