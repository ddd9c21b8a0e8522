"""Away and in hospital: while a resident is away no check-in goes and nothing climbs; on the return date the tick
ends the absence and places one welcome-back call, outside quiet hours, however often it runs.

Real parts: SQLite (or PostgreSQL), redis-server, RQ workers, the local gateway; the clock is the test's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select, true
from starlette.testclient import TestClient

from dispatch import register
from dispatch.checkins.plans import set_plan
from dispatch.checkins.returns import BACK_SLOT
from dispatch.exceptions import InvalidAction
from dispatch.models import (
    Absence,
    Checkin,
    CheckinStatus,
    OutboundMessage,
    Resident,
    ResidentPhone,
    ResidentStatus,
    ReturnCall,
    Task,
    TaskCategory,
)
from dispatch.register.away import end_absence, set_absence
from dispatch.register.edit import EditRefused, update_resident
from hotline.jobs import checkins as checkin_jobs
from hotline.services import Services
from tests.checkin_helpers import answer_call, calls_to, reply, texts_to
from tests.conftest import DAY, LIAISON_PHONE, PHONES, Clock, at, run_worker
from tests.test_care_circle import add as add_contact


@dataclass(frozen=True)
class Clerk:
    audit_name: str = "王文员"
    audit_ref: str = "staff:1"


def tick(services: Services, clock: Clock, hhmm: str, day: date = DAY) -> dict[str, int]:
    clock.now = at(hhmm, day)
    counts = checkin_jobs.checkin_tick()
    run_worker(services)
    return counts


def away(services: Services, resident_id: int, return_on: object, reason: str = "hospital", key: str = "k1") -> int:
    with services.sessions.begin() as session:
        done = set_absence(
            session,
            services.intake.checkin,
            resident_id,
            reason=reason,
            note="市一医院",
            return_on=return_on,
            tell_family=None,
            request_key=key,
            actor=Clerk(),
            where=true(),
            now=services.clock(),
        )
    return done.absence_id


def absence(services: Services, absence_id: int) -> Absence:
    with services.sessions() as session:
        found = session.get(Absence, absence_id)
        assert found is not None
        return found


def status_of(services: Services, resident_id: int) -> str:
    with services.sessions() as session:
        return str(session.get(Resident, resident_id).status)  # type: ignore[union-attr]


def checkins_of(services: Services, resident_id: int) -> list[Checkin]:
    with services.sessions() as session:
        return list(session.scalars(select(Checkin).where(Checkin.resident_id == resident_id).order_by(Checkin.id)))


def visit_tasks(services: Services, resident_id: int) -> list[Task]:
    with services.sessions() as session:
        query = select(Task).where(Task.resident_id == resident_id, Task.category == TaskCategory.VISIT)
        return list(session.scalars(query))


def test_away_no_check_in_goes_and_the_return_date_brings_one_welcome_back_call(
    services: Services, clock: Clock, town: dict[str, int]
) -> None:
    liang, phone = town["梁阿姨"], PHONES["梁阿姨"]
    clock.now = at("07:30")
    absence_id = away(services, liang, (DAY + timedelta(days=2)).isoformat())
    assert status_of(services, liang) == ResidentStatus.PAUSED
    assert absence(services, absence_id).tell_family  # on by default for a hospital stay
    for day in (DAY, DAY + timedelta(days=1)):
        for hhmm in ("08:00", "09:00", "11:00", "11:30", "12:00", "15:00", "23:59"):
            tick(services, clock, hhmm, day)
    assert checkins_of(services, liang) == []  # not made, so not sent, reminded, called or visited
    assert texts_to(services, phone) == [] and calls_to(services, phone) == []
    assert visit_tasks(services, liang) == []
    assert texts_to(services, PHONES["王大爷"])  # the others' check-ins went as every day

    back = DAY + timedelta(days=2)
    tick(services, clock, "00:00", back)  # the return date, in quiet hours: ended, no call yet
    assert status_of(services, liang) == ResidentStatus.ACTIVE
    assert absence(services, absence_id).return_call == ReturnCall.DUE
    tick(services, clock, "06:59", back)
    assert calls_to(services, phone) == []
    tick(services, clock, "07:00", back)  # quiet hours over: the welcome-back call
    tick(services, clock, "07:00", back)  # the job run twice
    threads = [threading.Thread(target=checkin_jobs.checkin_tick) for _ in range(2)]  # two schedulers at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    run_worker(services)
    tick(services, clock, "08:30", back)
    assert len(calls_to(services, phone)) == 1
    ended = absence(services, absence_id)
    assert ended.return_call == ReturnCall.PLACED and ended.end_reason == "returned"
    slots = {(c.local_date, c.slot) for c in checkins_of(services, liang)}
    assert slots == {(back, BACK_SLOT), (back, "09:00")}  # the day's own check-in resumes too
    tick(services, clock, "09:00", back)
    assert len(texts_to(services, phone)) == 1  # the 09:00 check-in SMS


def test_an_unanswered_welcome_back_call_climbs_to_a_visit_unless_the_days_check_in_covers_it(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    """Three residents back today whom the welcome-back call does not reach: one answers the 09:00 check-in (no
    visit), one answers nothing (one visit, the household's, at the day's visit time), one has no check-in of
    their own today (the call's own visit, in words saying why)."""
    liang, chen, wu = town["梁阿姨"], town["陈伯"], town["吴叔"]
    clock.now = at("07:30", DAY - timedelta(days=1))
    for number, resident_id in enumerate((liang, chen, wu)):
        away(services, resident_id, DAY.isoformat(), reason="family", key=f"k{number}")
    with services.sessions.begin() as session:  # 吴叔 has no daily check-in: the call is all there is today
        set_plan(session, services.intake.checkin, wu, times=[], actor="test", now=clock.now)
    for hhmm in ("00:00", "07:00"):
        tick(services, clock, hhmm)
    for attempt, hhmm in enumerate(("07:10", "07:20", "07:30", "07:40"), start=1):
        for name in ("梁阿姨", "陈伯", "吴叔"):
            placed = calls_to(services, PHONES[name])
            assert len(placed) == attempt, (name, hhmm)
            answer_call(client, services, placed[-1]).not_picked_up("no-answer")
        tick(services, clock, hhmm)
    assert {name: len(calls_to(services, PHONES[name])) for name in ("梁阿姨", "陈伯", "吴叔")} == dict.fromkeys(
        ("梁阿姨", "陈伯", "吴叔"), 4
    )  # the call and its three retries, then no more
    tick(services, clock, "09:00")
    reply(client, services, clock, "09:05", "梁阿姨", "平安")
    for hhmm in ("11:00", "11:29"):
        tick(services, clock, hhmm)
    assert [visit_tasks(services, r) for r in (liang, chen, wu)] == [[], [], []]  # not before the day's time
    for hhmm in ("11:30", "11:31", "12:00"):
        tick(services, clock, hhmm)

    assert visit_tasks(services, liang) == []  # answered at 09:05: she is home and well
    [chens] = visit_tasks(services, chen)  # both his check-ins unanswered: one visit for the household
    [wus] = visit_tasks(services, wu)
    assert "欢迎回家的电话几次都没有人接" in wus.description and "欢迎回家" not in chens.description
    with services.sessions() as session:
        back = {
            c.resident_id: c
            for c in session.scalars(select(Checkin).where(Checkin.slot == BACK_SLOT, Checkin.local_date == DAY))
        }
        assert back[wu].visit_task_id == wus.id and back[chen].visit_task_id in (None, chens.id)
        said = [e.detail for e in back[liang].events if e.kind == "visit"]
        assert len(said) == 1 and said[0].startswith("not needed: check-in") and "answered since" in said[0]
    texts = [body for body in texts_to(services, LIAISON_PHONE) if "#" in body]
    assert len([t for t in texts if "吴叔" in t]) == 1 and not [t for t in texts if "梁阿姨" in t]


def test_going_away_stops_a_check_in_already_sent_from_climbing(
    services: Services, clock: Clock, town: dict[str, int]
) -> None:
    zhao, phone = town["赵姐"], PHONES["赵姐"]
    tick(services, clock, "08:00")
    tick(services, clock, "09:00")
    assert len(texts_to(services, phone)) == 1  # sent, unanswered
    clock.now = at("10:00")
    away(services, zhao, (DAY + timedelta(days=3)).isoformat(), reason="family")
    for hhmm in ("11:00", "11:05", "11:30", "12:00", "13:00"):
        tick(services, clock, hhmm)
    assert [c.status for c in checkins_of(services, zhao)] == [CheckinStatus.SKIPPED]
    assert len(texts_to(services, phone)) == 1 and calls_to(services, phone) == []  # no reminder, no call
    assert visit_tasks(services, zhao) == []


def test_ended_early_by_staff_check_ins_resume_without_a_welcome_back_call(
    services: Services, clock: Clock, town: dict[str, int]
) -> None:
    chen, phone = town["陈伯"], PHONES["陈伯"]
    clock.now = at("07:30")
    absence_id = away(services, chen, (DAY + timedelta(days=5)).isoformat(), reason="travel")
    assert not absence(services, absence_id).tell_family  # off by default but for hospital
    clock.now = at("07:40", DAY + timedelta(days=1))
    with services.sessions.begin() as session:
        assert end_absence(session, chen, actor=Clerk(), where=true(), now=clock.now) == absence_id
    with services.sessions.begin() as session:  # a second click: nothing to end
        assert end_absence(session, chen, actor=Clerk(), where=true(), now=clock.now) is None
    assert status_of(services, chen) == ResidentStatus.ACTIVE
    assert absence(services, absence_id).return_call == ReturnCall.NONE
    tick(services, clock, "09:00", DAY + timedelta(days=1))
    assert len(texts_to(services, phone)) == 1 and calls_to(services, phone) == []


def test_a_status_set_by_hand_ends_the_absence(services: Services, clock: Clock, town: dict[str, int]) -> None:
    wu = town["吴叔"]
    clock.now = at("07:30")
    absence_id = away(services, wu, (DAY + timedelta(days=1)).isoformat())
    with services.sessions.begin() as session:
        update_resident(session, wu, {"status": "moved_away"}, actor=Clerk(), where=true(), region="CN")
    gone = absence(services, absence_id)
    assert gone.ended_at is not None and gone.end_reason == "status" and gone.return_call == ReturnCall.NONE
    tick(services, clock, "07:30", DAY + timedelta(days=1))
    assert status_of(services, wu) == ResidentStatus.MOVED_AWAY and calls_to(services, PHONES["吴叔"]) == []


def test_a_resident_without_a_phone_gets_a_visit_on_the_return_date(services: Services, clock: Clock) -> None:
    with services.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone="+8613800000001", region="CN")
        resident = register.add_resident(
            session,
            name="钱奶奶",
            phones=["+8613900000099"],
            liaison_phone="+8613800000001",
            address=register.Address("幸福里社区", "2号楼", "1单元", "201"),
            region="CN",
        )
        resident_id = resident.id
        session.execute(delete(ResidentPhone))  # the register requires a number; an older record may lack one
    clock.now = at("20:00")
    absence_id = away(services, resident_id, (DAY + timedelta(days=1)).isoformat())
    tick(services, clock, "07:05", DAY + timedelta(days=1))
    tick(services, clock, "07:06", DAY + timedelta(days=1))
    tasks = visit_tasks(services, resident_id)
    assert len(tasks) == 1 and absence(services, absence_id).return_task_id == tasks[0].id
    assert "欢迎回家" in tasks[0].description


@pytest.mark.parametrize(
    ("return_on", "code"),
    [
        ("", "required"),
        ("明天", "bad_date"),
        ("2030-03-04", "date_past"),
        ("2030-03-01", "date_past"),
        ("2032-03-04", "too_far"),
    ],
)
def test_a_bad_return_date_is_refused_in_words_and_nothing_changes(
    services: Services, clock: Clock, town: dict[str, int], return_on: str, code: str
) -> None:
    clock.now = at("10:00")
    with pytest.raises(EditRefused) as refused:
        away(services, town["梁阿姨"], return_on)
    assert [(p.field, p.code) for p in refused.value.problems] == [("return_on", code)]
    assert status_of(services, town["梁阿姨"]) == ResidentStatus.ACTIVE
    with services.sessions() as session:
        assert session.scalars(select(Absence)).all() == []


def test_the_same_request_twice_sets_one_absence_and_an_opted_out_resident_is_refused(
    services: Services, clock: Clock, town: dict[str, int]
) -> None:
    clock.now = at("10:00")
    first = away(services, town["梁阿姨"], "2030-03-10")
    assert away(services, town["梁阿姨"], "2030-03-10") == first
    assert away(services, town["梁阿姨"], "2030-03-12", key="k2") == first  # the running one, its date changed
    assert absence(services, first).return_on == date(2030, 3, 12)
    with pytest.raises(InvalidAction) as refused:
        away(services, town["周阿姨"], "2030-03-10", key="k3")
    assert refused.value.key == "away_not_contacted"


def test_the_welcome_back_call_keeps_the_quiet_hours_of_the_residents_own_community(
    services: Services, clock: Clock, town: dict[str, int]
) -> None:
    """A community in London: its return date and quiet hours are London's, not the hotline's (Shanghai's)."""
    liang, phone = town["梁阿姨"], PHONES["梁阿姨"]
    with services.sessions.begin() as session:
        resident = session.get(Resident, liang)
        assert resident is not None and resident.household.community is not None
        resident.household.community.timezone = "Europe/London"
    london = ZoneInfo("Europe/London")
    clock.now = datetime(2030, 3, 4, 10, 0, tzinfo=london)
    absence_id = away(services, liang, "2030-03-06")
    clock.now = datetime(2030, 3, 5, 23, 30, tzinfo=london)  # 07:30 on the 6th in Shanghai: still the 5th here
    checkin_jobs.checkin_tick()
    assert absence(services, absence_id).ended_at is None
    clock.now = datetime(2030, 3, 6, 6, 59, tzinfo=london)  # 14:59 in Shanghai, but quiet hours in London
    checkin_jobs.checkin_tick()
    run_worker(services)
    assert absence(services, absence_id).return_call == ReturnCall.DUE and calls_to(services, phone) == []
    clock.now = datetime(2030, 3, 6, 7, 0, tzinfo=london)
    checkin_jobs.checkin_tick()
    run_worker(services)
    assert len(calls_to(services, phone)) == 1


def test_family_hear_once_that_nobody_answered_when_the_call_and_the_check_in_climb_together(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    """陈伯 is back and answers neither the welcome-back call nor the 09:00 check-in: both climb at 11:30 to the
    household's one visit task, and his daughter hears once that nobody answered, not once per check-in."""
    chen, daughter = town["陈伯"], "+8613700000009"
    add_contact(services, chen, "陈小红", "女儿", daughter)
    clock.now = at("07:30", DAY - timedelta(days=1))
    away(services, chen, DAY.isoformat(), reason="family")
    for hhmm in ("00:00", "07:00"):
        tick(services, clock, hhmm)
    for hhmm in ("07:10", "07:20", "07:30", "07:40"):
        answer_call(client, services, calls_to(services, PHONES["陈伯"])[-1]).not_picked_up("no-answer")
        tick(services, clock, hhmm)
    for hhmm in ("09:00", "11:00", "11:30", "11:31", "12:00"):
        tick(services, clock, hhmm)
    assert len(visit_tasks(services, chen)) == 1
    with services.readonly() as session:
        told = session.scalars(
            select(OutboundMessage.dedupe_key).where(
                OutboundMessage.to_phone == daughter, OutboundMessage.dedupe_key.contains(":no-answer:")
            )
        ).all()
    assert len(told) == 1, told


def test_family_hear_once_when_the_call_climbs_first_and_the_late_check_in_joins_its_visit(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    """The other order: the hotline down from 07:40 to 10:50 sends 陈伯's 09:00 check-in late, so the welcome-back
    call's visit comes first (11:30) and the check-in's (11:35) joins it; his daughter still hears once."""
    chen, daughter = town["陈伯"], "+8613700000009"
    add_contact(services, chen, "陈小红", "女儿", daughter)
    clock.now = at("07:30", DAY - timedelta(days=1))
    away(services, chen, DAY.isoformat(), reason="family")
    for hhmm in ("00:00", "07:00"):
        tick(services, clock, hhmm)
    for hhmm in ("07:10", "07:20", "07:30", "07:40"):
        answer_call(client, services, calls_to(services, PHONES["陈伯"])[-1]).not_picked_up("no-answer")
        tick(services, clock, hhmm)
    for hhmm in ("10:50", "11:05", "11:15", "11:25", "11:30", "11:35", "12:00"):
        tick(services, clock, hhmm)
    [visit] = visit_tasks(services, chen)
    with services.readonly() as session:
        linked = session.scalars(select(Checkin.slot).where(Checkin.visit_task_id == visit.id)).all()
        told = session.scalars(
            select(OutboundMessage.dedupe_key).where(
                OutboundMessage.to_phone == daughter, OutboundMessage.dedupe_key.contains(":no-answer:")
            )
        ).all()
    assert sorted(linked) == ["09:00", BACK_SLOT]  # both climbed to the one visit
    assert len(told) == 1, told
