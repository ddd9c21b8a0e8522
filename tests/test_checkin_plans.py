"""Check-in plans and the hours they keep: quiet hours hold, a slot missed while down goes late, an
observation plan ends by itself, and a reply or a changed plan cancels what is not sent yet.

Real parts: SQLite (or PostgreSQL), redis-server, RQ workers, the webhooks through Starlette's TestClient with
Twilio's signatures, the local gateway; the clock is the test's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from dispatch.checkins.report import coverage
from dispatch.checkins.rules import CheckinRules
from dispatch.models import Checkin, CheckinEvent, CheckinStatus, Resident, ResidentStatus
from hotline.jobs import checkins
from hotline.services import Services
from tests.checkin_helpers import calls_to, checkin_of, reply, texts_to, tick
from tests.conftest import DAY, PHONES, ZONE, Clock, at, local_outbox


def test_a_slot_missed_while_down_goes_late_but_not_in_quiet_hours(
    services: Services, clock: Clock, town: dict[str, int]
) -> None:
    # Down all morning: the first tick at 10:30 sends the 09:00 check-ins late. Their window is shortened so the
    # reminder's call and its three retries, ten minutes apart, are placed by 11:30, when the visit must be offered
    # to have a taker by the 12:00 deadline.
    counts = tick(services, clock, "10:30")
    assert counts["sent"] == 7
    checkin = checkin_of(services, town["赵姐"])
    assert checkin.sent_at == at("10:30")
    assert (checkin.reminder_at, checkin.visit_at) == (at("11:00"), at("11:30"))


@pytest.mark.parametrize(
    ("sent", "reminder", "visit"),
    [
        ("09:00", "11:00", "11:30"),  # on time: the whole window, no slack to spare
        ("09:04", "11:00", "11:30"),  # the 09:00 wave's last few minutes: still the day's deadline
        ("10:00", "11:00", "11:30"),  # a resident's own plan at 10:00: an hour to answer, and the day's deadline
        ("10:50", "11:05", "11:35"),  # fifteen minutes to answer at least: the deadline slips by five
        ("11:20", "11:35", "12:05"),  # past the last reminder that could keep it: late by as much, not by a window
        ("12:00", "14:00", "14:30"),  # at the deadline: a ladder of its own, the whole window
        ("15:00", "17:00", "17:30"),  # an afternoon check-in: its own ladder, the whole window
    ],
)
def test_a_check_in_sent_late_keeps_the_days_deadline_while_it_can(sent: str, reminder: str, visit: str) -> None:
    rules = CheckinRules()
    assert rules.ladder_times(at(sent), ZONE) == (at(reminder), at(visit))


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
    checkins.checkin_tick()
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
    checkins.checkin_tick()
    with services.sessions() as session:
        later = session.scalars(
            select(Checkin.slot).where(Checkin.resident_id == town["梁阿姨"], Checkin.local_date == date(2030, 3, 6))
        ).all()
    assert later == ["09:00"]  # back to the default of her categories


def test_a_reply_before_the_reminder_goes_out_cancels_it(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    tick(services, clock, "09:00")
    clock.now = at("11:00")
    checkins.checkin_tick()  # the reminders are decided…
    reply(client, services, clock, "11:00", "赵姐", "1")  # …and she answers before the worker hands them over
    assert len(texts_to(services, PHONES["赵姐"])) == 1 and calls_to(services, PHONES["赵姐"]) == []
    assert len(texts_to(services, PHONES["吴叔"])) == 2  # still waiting: reminded
    with services.sessions() as session:
        cancelled = session.scalars(select(CheckinEvent.detail).where(CheckinEvent.kind == "cancelled")).all()
    assert cancelled == ["not sent: answered (fine)"] * 2  # the reminder SMS and the call


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
