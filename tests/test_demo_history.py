"""`hotline demo`'s made-up fortnight (`dispatch.demo_history.seed_history`): played on the generated community through
the hotline's own steps, it leaves the board, the reports and their charts full for each of the 14 days, a task
standing in (or gone through) every state the domain has, and nothing more when asked again.
"""

from __future__ import annotations

import re
import time as wall
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func, select, union
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from dispatch.db import upgrade
from dispatch.demo_care import CareSummary, furnish_demo_care
from dispatch.demo_history import DAYS, HistorySummary, seed_history, story_households
from dispatch.models import (
    Absence,
    AbsenceReason,
    AuditEntry,
    Call,
    Checkin,
    CheckinEvent,
    CheckinStatus,
    CircleContact,
    HouseholdAccess,
    InboundMessage,
    Liaison,
    Medicine,
    MedicineTask,
    OutboundMessage,
    OutboundStatus,
    Resident,
    ResidentPhone,
    ResidentStatus,
    Ring,
    RingMode,
    RingSetting,
    StaffRole,
    Task,
    TaskEvent,
    TaskStatus,
    VoiceProfile,
)
from dispatch.models.base import set_clock
from dispatch.register.demo import generate_demo_register
from dispatch.staff_accounts import add_user
from hotline.services import Services
from tests.conftest import ZONE, reset_database
from tests.console_helpers import PASSWORD, sign_in

NOW = datetime(2026, 11, 20, 10, 30, tzinfo=ZONE)  # a morning, after the 09:00 check-in went out
TODAY = NOW.date()
DEMO_NUMBER = "+8637166660000"
RESIDENTS = 120  # as the demo has
SEED_SECONDS = 180.0  # seconds on a quiet machine; generous for a shared one


def make_demo(services: Services, residents: int = RESIDENTS) -> None:
    """The demo's community and account, registered a fortnight before NOW, as `hotline demo` does."""
    registered = datetime.combine(TODAY - timedelta(days=DAYS + 1), time(8, 0), ZONE)
    set_clock(lambda: registered)
    try:
        with services.sessions.begin() as session:
            generate_demo_register(session, residents=residents, seed=1, households_per_grid=30)
            add_user(session, username="demo", display_name="演示管理员", password=PASSWORD, role=StaffRole.ADMIN)
            furnish(services, session, registered)
    finally:
        set_clock(None)


def furnish(services: Services, session: Session, registered: datetime) -> CareSummary | None:
    return furnish_demo_care(session, services.intake, staff_username="demo", now=registered, today=TODAY)


def seed(services: Services) -> HistorySummary | None:
    return seed_history(services.sessions, services.intake, now=NOW, hotline_phone=DEMO_NUMBER, staff_username="demo")


@pytest.fixture
def seeded(services: Services) -> Iterator[HistorySummary]:
    make_demo(services)
    started = wall.monotonic()
    summary = seed(services)
    assert wall.monotonic() - started < SEED_SECONDS
    assert summary is not None
    services.clock = lambda: NOW.astimezone(UTC)
    yield summary


def days() -> list[str]:
    return [(TODAY - timedelta(days=back)).isoformat() for back in range(DAYS, -1, -1)]


def every_task_state_stands_on_a_task_or_was_passed_through(services: Services) -> None:
    with services.readonly() as session:
        standing = set(session.scalars(select(Task.status).distinct()))
        kinds = {(kind, detail) for kind, detail in session.execute(select(TaskEvent.kind, TaskEvent.detail))}
        events = {kind for kind, _ in kinds}
        flagged = session.scalar(
            select(func.count(Task.id)).where(Task.status == TaskStatus.ACCEPTED, Task.flagged_at.is_not(None))
        )
        no_household = session.scalars(select(Task.id).where(Task.household_id.is_(None))).all()
    # Two states never stand past the step that makes them: a task made with nobody to offer it to climbs at once
    # (new), and one handed back climbs at once (declined). Each must have been gone through.
    gone_through = {TaskStatus.NEW: bool(no_household), TaskStatus.DECLINED: "declined" in events}
    for status in TaskStatus:
        assert status in standing or gone_through.get(status), f"no task stands in, or went through, {status}"
    assert {
        TaskStatus.OFFERED,
        TaskStatus.ACCEPTED,
        TaskStatus.DONE,
        TaskStatus.ESCALATED,
        TaskStatus.CANCELLED,
    } <= standing
    for rung in (1, 2, 3):  # up each rung of the ladder
        assert any(kind == "escalated" and detail.startswith(f"rung:{rung} ") for kind, detail in kinds), rung
    assert {"reopened", "cancelled", "accepted", "done", "flagged"} <= events
    assert flagged  # taken and not done by the evening: overdue


def check_ins_have_a_lived_in_mix_on_each_day_and_every_send_went(services: Services) -> None:
    with services.readonly() as session:
        by_day: dict[str, dict[str, int]] = {}
        for day, status, count in session.execute(
            select(Checkin.local_date, Checkin.status, func.count(Checkin.id)).group_by(
                Checkin.local_date, Checkin.status
            )
        ):
            by_day.setdefault(day.isoformat(), {})[status] = count
        pending = session.scalar(
            select(func.count(OutboundMessage.id)).where(OutboundMessage.status == OutboundStatus.PENDING)
        )
        unprocessed = session.scalar(select(func.count(InboundMessage.id)).where(InboundMessage.processed_at.is_(None)))
        visits = session.scalar(select(func.count(Checkin.id)).where(Checkin.visit_task_id.is_not(None)))
        reminded = session.scalar(select(func.count(Checkin.id)).where(Checkin.rung >= 1))
        unanswered_unvisited = session.scalar(  # a past check-in nobody answered ends in a visit
            select(func.count(Checkin.id)).where(
                Checkin.local_date < TODAY, Checkin.status == CheckinStatus.SENT, Checkin.visit_task_id.is_(None)
            )
        )
    assert sorted(by_day) == days()  # 14 days and today
    for day in days()[:-1]:
        counts = by_day[day]
        assert counts.get(CheckinStatus.FINE, 0) > sum(counts.values()) / 2, (day, counts)
        assert CheckinStatus.SCHEDULED not in counts, (day, counts)
    everything = {status for counts in by_day.values() for status in counts}
    assert {CheckinStatus.FINE, CheckinStatus.NEEDS, CheckinStatus.UNWELL} <= everything
    assert unanswered_unvisited == 0
    assert visits and reminded  # some were reached only by the reminder, the call or a visit
    today = by_day[TODAY.isoformat()]
    assert today.get(CheckinStatus.FINE) and today.get(CheckinStatus.SENT), today  # today's under way at 10:30
    assert pending == 0 and unprocessed == 0  # nothing left for the workers to send again when the demo starts


def the_care_has_its_past_too(services: Services, client: TestClient) -> None:
    """What the register's care made in the fortnight, through the hotline's steps: rings, medicine tasks, family
    answers, and two residents away now (one in hospital, the circle told), back in a few days."""
    with services.readonly() as session:
        rings = dict(session.execute(select(Ring.outcome, func.count(Ring.id)).group_by(Ring.outcome)).all())
        rejected = session.scalar(select(func.count(Call.id)).where(Call.status == "rejected"))
        scheduled = session.scalars(select(MedicineTask.task_id)).all()
        open_medicine = session.scalar(
            select(func.count(Task.id)).where(Task.id.in_(scheduled), Task.status.in_(TaskStatus.open()))
        )
        family = session.scalar(select(func.count(CheckinEvent.id)).where(CheckinEvent.kind == "family_answer"))
        away = session.scalars(select(Absence).where(Absence.ended_at.is_(None)).order_by(Absence.id)).all()
        told = session.scalar(
            select(func.count(OutboundMessage.id)).where(OutboundMessage.dedupe_key.like("circle:absence:%:hospital:%"))
        )
        statuses = {
            absence.resident_id: session.scalar(select(Resident.status).where(Resident.id == absence.resident_id))
            for absence in away
        }
    assert rings.get("fine", 0) > DAYS and rings.get("task"), rings  # most mornings, and a call-back asked for
    assert rejected == sum(rings.values())  # each ring a call of its own, rejected unanswered
    assert len(scheduled) >= 3 and open_medicine, (scheduled, open_medicine)  # refills came due; one still open
    assert family, "no family member answered for a resident"
    assert sorted(a.reason for a in away) == [AbsenceReason.FAMILY, AbsenceReason.HOSPITAL], away
    assert all(TODAY - timedelta(days=7) < a.starts_on < TODAY < a.return_on <= TODAY + timedelta(days=5) for a in away)
    assert told and set(statuses.values()) == {ResidentStatus.PAUSED}, (told, statuses)
    board = client.get("/board").text
    away_card = re.search(r'<section class="card" id="away">.*?</section>', board, re.S)
    assert away_card and away_card.group(0).count("data-resident=") == 2, board


def a_second_start_adds_nothing(services: Services) -> None:
    def counts() -> tuple[int, ...]:
        with services.readonly() as session:
            return tuple(
                session.scalar(select(func.count()).select_from(model)) or 0
                for model in (Checkin, Task, TaskEvent, InboundMessage, OutboundMessage, Ring, Absence, CircleContact)
            )

    before = counts()
    assert seed(services) is None
    assert counts() == before


def the_board_reports_and_charts_show_each_of_the_fourteen_days(client: TestClient) -> None:
    sign_in(client, "demo")
    board = client.get("/board").text
    coverage = re.search(r'<table class="coverage">.*?</table>', board, re.S)
    assert coverage and re.search(r"<tr><td>[^<]+</td><td>[1-9]", coverage.group(0)), board  # today's check-ins due
    open_tasks = re.search(r'id="open-tasks".*?</table>', board, re.S)
    assert open_tasks, board
    shown = open_tasks.group(0)
    assert shown.count("data-task=") >= 3 and "已接单" in shown and "flagged" in shown  # taken, and one overdue
    for day in days():
        page = client.get("/reports", params={"day": day})
        assert page.status_code == 200, day
        assert 'id="no-data"' not in page.text and 'id="checkin-rows"' in page.text, day
        for chart in ("chart-coverage", "chart-categories", "chart-accept"):
            assert f'id="{chart}"' in page.text, (day, chart)
    yesterday = client.get("/reports", params={"day": days()[-2]}).text
    trend = dict(re.findall(r'<tr><th scope="row">(\d{4}-\d{2}-\d{2})</th><td>(\d+)</td>', yesterday))
    assert sorted(trend) == days()[:-1] and all(int(due) > 0 for due in trend.values()), trend
    csv = client.get("/reports.csv", params={"day": days()[-2], "days": "14"})
    assert csv.status_code == 200 and all(day in csv.text for day in days()[:-1])


def test_the_demo_fortnight_fills_the_board_reports_and_charts_and_is_played_once(
    services: Services, seeded: HistorySummary, client: TestClient
) -> None:
    """One fortnight, played once (it takes a while), and looked at from each side."""
    assert seeded.checkins > DAYS * RESIDENTS * 0.9 and seeded.tasks > DAYS * 2
    every_task_state_stands_on_a_task_or_was_passed_through(services)
    check_ins_have_a_lived_in_mix_on_each_day_and_every_send_went(services)
    the_board_reports_and_charts_show_each_of_the_fourteen_days(client)
    the_care_has_its_past_too(services, client)
    a_second_start_adds_nothing(services)


def test_the_same_seed_plays_the_same_past(services: Services) -> None:
    def play() -> list[object]:
        make_demo(services, residents=30)
        seed_history(
            services.sessions, services.intake, now=NOW, hotline_phone=DEMO_NUMBER, staff_username="demo", days=3
        )
        with services.readonly() as session:
            tasks = session.scalars(select(Task).order_by(Task.id))
            heard = select(InboundMessage.from_phone, InboundMessage.body, InboundMessage.received_at)
            said = session.execute(heard).all()
            return [
                *((t.category, t.status, t.rung, [(e.kind, e.at, e.detail) for e in t.events]) for t in tasks),
                *sorted(tuple(row) for row in said),
            ]

    first = play()
    assert len(first) > 20
    stories_are_left_plain(services)  # a small register: the stories' households are many of its own
    reset_database(services.engine)
    upgrade(services.engine)
    assert play() == first


def care_counts(services: Services) -> dict[str, int]:
    """What the demo's care holds, counted in the register."""
    with services.readonly() as session:
        circles = session.execute(
            select(CircleContact.resident_id, func.count(CircleContact.id)).group_by(CircleContact.resident_id)
        ).all()
        consented = session.scalar(select(func.count(CircleContact.id)).where(CircleContact.consent_at.is_not(None)))
        modes = dict(
            session.execute(
                select(RingSetting.mode, func.count(RingSetting.resident_id)).group_by(RingSetting.mode)
            ).all()
        )
        medicines = session.scalars(select(Medicine)).all()
        return {
            "circles": len(circles),
            "contacts": sum(n for _, n in circles),
            "largest_circle": max((n for _, n in circles), default=0),
            "consented": consented or 0,
            "ring_fine": modes.get(RingMode.FINE, 0),
            "ring_callback": modes.get(RingMode.CALLBACK, 0),
            "hearing": session.scalar(select(func.count(VoiceProfile.resident_id))) or 0,
            "sms_copy": session.scalar(select(func.count(VoiceProfile.resident_id)).where(VoiceProfile.sms_copy)) or 0,
            "slower_or_louder": session.scalar(
                select(func.count(VoiceProfile.resident_id)).where(VoiceProfile.slower | VoiceProfile.louder)
            )
            or 0,
            "medicine_residents": len({m.resident_id for m in medicines}),
            "medicines": len(medicines),
            "due_soon": sum(TODAY <= m.runs_out_on <= TODAY + timedelta(days=6) for m in medicines if m.runs_out_on),
            "access": session.scalar(select(func.count(HouseholdAccess.household_id))) or 0,
            "key_holders": session.scalar(
                select(func.count(HouseholdAccess.household_id)).where(HouseholdAccess.key_holder_phone.is_not(None))
            )
            or 0,
            "dogs": session.scalar(
                select(func.count(HouseholdAccess.household_id)).where(HouseholdAccess.notes.contains("狗"))
            )
            or 0,
            "audited": session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.actor_name == "演示管理员"))
            or 0,
            "welcomes": session.scalar(
                select(func.count(OutboundMessage.id)).where(OutboundMessage.dedupe_key.startswith("circle:welcome:"))
            )
            or 0,
        }


def stories_are_left_plain(services: Services) -> None:
    """No care in the households whose errands the past tells on purpose: the stories stay as they are told."""
    with services.readonly() as session:
        cared = [
            select(CircleContact.resident_id),
            select(RingSetting.resident_id),
            select(VoiceProfile.resident_id),
            select(Medicine.resident_id),
        ]
        households = select(Resident.household_id).where(Resident.id.in_(union(*cared)))
        found = {*session.scalars(households), *session.scalars(select(HouseholdAccess.household_id))}
        told = story_households(session)
    assert told and found and not told & found, (told, found)


def test_the_demo_community_has_each_features_care_once(services: Services) -> None:
    """The care its staff set (circles, ring modes, hearing profiles, medicines, access notes), in the shares a
    street office would see, through the domain's steps; set again, it adds nothing."""
    make_demo(services)
    counts = care_counts(services)
    assert counts["circles"] == round(RESIDENTS * 0.05) and counts["consented"] == counts["contacts"], counts
    assert counts["circles"] < counts["contacts"] and counts["largest_circle"] == 2, counts  # some of two
    assert counts["welcomes"] == counts["contacts"]  # consent recorded: each family member is welcomed once
    assert counts["ring_fine"] == 3 and counts["ring_callback"] == 1, counts
    assert counts["hearing"] == round(RESIDENTS * 0.04) == counts["slower_or_louder"] and counts["sms_copy"] == 1
    assert counts["medicine_residents"] == round(RESIDENTS * 0.08), counts
    assert counts["medicines"] > counts["medicine_residents"] and counts["due_soon"] >= 3, counts
    assert counts["access"] == round(RESIDENTS * 0.04) == counts["key_holders"] and counts["dogs"], counts
    assert counts["audited"] >= counts["ring_fine"] + counts["hearing"] + counts["medicines"] + counts["access"]
    with services.readonly() as session:
        numbers = [
            *session.scalars(select(CircleContact.phone)),
            *session.scalars(select(HouseholdAccess.key_holder_phone)),
        ]
        names = [*session.scalars(select(CircleContact.relation)), *session.scalars(select(Medicine.name))]
        registered = {*session.scalars(select(ResidentPhone.phone)), *session.scalars(select(Liaison.phone))}
    stories_are_left_plain(services)
    assert len(set(numbers)) == len(numbers) and not registered & set(numbers)  # nobody's number twice
    for number in numbers:  # the demo's own ranges: Chinese mobiles, as the register's are
        assert number and re.fullmatch(r"\+861(30|35|36|38|39|50|58|86|87|89)\d{8}", number), number
    assert all(re.search(r"[\u4e00-\u9fff]", name) for name in names), names
    with services.sessions.begin() as session:
        assert furnish(services, session, NOW) is None
    assert care_counts(services) == counts
