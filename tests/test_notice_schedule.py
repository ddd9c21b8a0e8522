"""Notices scheduled for later: refused in quiet hours or in the past, started once at their time by the scheduler's
job (however many run it), held back while quiet hours last, and cancelled only before they start.

Real parts: SQLite or PostgreSQL, redis-server, RQ's SimpleWorker running the scheduler's job and the campaign, the
local gateway. Time is the app's clock (`clock.now`), never the wall's.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
from rq import Queue
from sqlalchemy import func, inspect, select, text

from dispatch import notices
from dispatch.exceptions import InvalidAction
from dispatch.models import AuditEntry, Notice, StaffUser
from dispatch.notices import notice_schedule
from dispatch.staff_accounts import household_scope
from hotline.jobs.notices import start_due_notices
from hotline.services import Services
from tests.conftest import Clock, at, local_outbox, run_worker
from tests.console_helpers import make_user
from tests.outreach_helpers import HOME, P, make_two_communities, outbound
from workers.queues import MAINTENANCE

TEXT = "明天上午9点在社区活动室打流感疫苗，请带医保卡。"
START_JOB = "hotline.jobs.notices.start_due_notices"


@pytest.fixture
def two_communities(services: Services) -> dict[str, int]:
    make_user(services)
    return make_two_communities(services)


def schedule(services: Services, starts: str, channels: str = "sms", key: str | None = None, **kw: Any) -> Notice:
    """Schedule a notice to 幸福里 for `starts` ("HH:MM" on the test day, or a UTC datetime) as the admin."""
    starts_at = at(starts) if isinstance(starts, str) else starts
    with services.sessions.begin() as session:
        admin = session.scalars(select(StaffUser)).one()
        notice, ids = notices.send_notice(
            session,
            actor=admin,
            where=household_scope(admin),
            target_kind="community",
            target=HOME,
            channels=channels,
            body=TEXT,
            now=services.clock(),
            rules=services.intake.checkin,
            request_key=key,
            starts_at=starts_at,
            **kw,
        )
        assert ids == []  # nothing is decided before its time
        session.expunge(notice)
    return notice


def actions(services: Services, notice_id: int) -> list[str]:
    with services.readonly() as session:
        query = select(AuditEntry.action).where(AuditEntry.object_kind == "notice", AuditEntry.object_id == notice_id)
        return list(session.scalars(query.order_by(AuditEntry.id)))


def status(services: Services, notice_id: int) -> str:
    with services.readonly() as session:
        found: str = notices.notice_progress(session, notice_id, household_scope_admin(session)).status
        return found


def household_scope_admin(session: Any) -> Any:
    return household_scope(session.scalars(select(StaffUser)).one())


def run_start_job(services: Services, times: int = 1) -> None:
    """Put the scheduler's job on its queue `times` times, and run a real worker until the queues are empty."""
    queue = Queue(MAINTENANCE, connection=services.redis)
    for _ in range(times):
        queue.enqueue(START_JOB)
    run_worker(services)


def test_a_start_in_quiet_hours_or_the_past_is_refused_with_the_hours_named(
    services: Services, clock: Clock, two_communities: dict[str, int]
) -> None:
    clock.now = at("10:00")
    for starts, words in (
        ("22:30", "a notice cannot start in quiet hours (21:00-07:00); choose a time from 07:00 to 21:00"),
        ("09:59", "the start time has passed"),
    ):
        with pytest.raises(InvalidAction, match=words.replace("(", r"\(").replace(")", r"\)")):
            schedule(services, starts)
    with pytest.raises(InvalidAction, match="quiet hours"):
        schedule(services, at("06:30", at("10:00").date() + timedelta(days=1)))
    with services.readonly() as session:
        assert session.scalar(select(func.count()).select_from(Notice)) == 0
    # The preview says the same, in its problems, before anything is stored.
    with services.readonly() as session:
        found = notices.preview(
            session,
            household_scope_admin(session),
            target_kind="community",
            target=HOME,
            channels="sms",
            body=TEXT,
            sms_per_second=0,
            calls_per_second=0,
            now=clock.now,
            starts_at=at("21:00"),
        )
    assert [(p.code, p.fields) for p in found.problems] == [("start_quiet", {"start": "21:00", "end": "07:00"})]
    # This minute is not past: it starts at the scheduler's next turn.
    clock.now = at("10:00") + timedelta(seconds=40)
    assert schedule(services, "10:00").status == "scheduled"


def test_at_its_time_the_scheduler_starts_it_once_however_often_its_job_runs(
    services: Services, clock: Clock, two_communities: dict[str, int]
) -> None:
    clock.now = at("08:00")
    notice = schedule(services, "09:30", key="form-key-0001")
    again = schedule(services, "09:30", key="form-key-0001")  # the form posted twice
    assert again.id == notice.id and status(services, notice.id) == "scheduled"
    assert actions(services, notice.id) == ["schedule"] and outbound(services) == []

    clock.now = at("09:29")
    run_start_job(services)
    assert outbound(services) == [] and status(services, notice.id) == "scheduled"

    clock.now = at("09:30")
    run_start_job(services, times=3)  # the job queued by two schedulers, and run again after a retry
    rows = outbound(services)
    assert {(r.kind, r.to_phone) for r in rows} == {
        ("sms", P["梁阿姨"]),
        ("sms", P["王大爷"]),
        ("call", P["孙爷爷"]),
        ("call", P["陈伯"]),
    }
    assert all(r.notice_id == notice.id for r in rows)
    assert actions(services, notice.id) == ["schedule", "start"]
    handed = sorted((e.kind, e.to_phone) for e in local_outbox(services))
    assert handed == sorted((r.kind, r.to_phone) for r in rows)  # each copy handed to the gateway once
    with services.readonly() as session:
        stored = session.get_one(Notice, notice.id)
        assert (stored.status, stored.started_at, stored.recipients) == ("started", at("09:30"), 4)
    assert status(services, notice.id) == "sent"

    clock.now = at("09:31")
    run_start_job(services)
    assert len(outbound(services)) == 4 and actions(services, notice.id) == ["schedule", "start"]


def test_two_schedulers_at_the_same_moment_start_it_once(
    services: Services, clock: Clock, two_communities: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both jobs read the notice as scheduled and plan its copies; the conditional UPDATE lets one claim it. (On
    SQLite, BEGIN IMMEDIATE already makes the second wait for the first; on PostgreSQL both get past the read.)"""
    clock.now = at("08:00")
    notice = schedule(services, "09:00")
    clock.now = at("09:00")
    postgres = services.engine.dialect.name == "postgresql"
    both_planned = threading.Barrier(2)
    real_plan = notice_schedule.plan_copies

    def plan_together(*args: Any, **kwargs: Any) -> Any:
        plan = real_plan(*args, **kwargs)
        if postgres:
            both_planned.wait(timeout=30)  # a bounded wait for the other job to plan too
        return plan

    monkeypatch.setattr(notice_schedule, "plan_copies", plan_together)
    results: list[dict[str, int]] = []
    jobs = [threading.Thread(target=lambda: results.append(start_due_notices())) for _ in range(2)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=60)
    assert sorted(r["started"] for r in results) == [0, 1]
    assert actions(services, notice.id) == ["schedule", "start"]
    assert len(outbound(services)) == 4


def test_a_notice_due_in_quiet_hours_waits_for_them_to_end(
    services: Services, clock: Clock, two_communities: dict[str, int]
) -> None:
    clock.now = at("08:00")
    notice = schedule(services, "20:00", channels="both")
    # The quiet hours were moved earlier after it was scheduled: at 20:00 it is night.
    rules = replace(services.intake.checkin, quiet_hours=(time(19, 0), time(7, 0)))
    services.intake = replace(services.intake, checkin=rules)
    for moment in (at("20:00"), at("23:59"), at("06:59", at("08:00").date() + timedelta(days=1))):
        clock.now = moment
        run_start_job(services)
        assert outbound(services) == [] and status(services, notice.id) == "scheduled", moment
    clock.now = at("07:00", at("08:00").date() + timedelta(days=1))
    run_start_job(services)
    assert len(outbound(services)) == 6 and status(services, notice.id) == "sent"
    assert {e.kind for e in local_outbox(services)} == {"sms", "call"}


def test_calls_that_would_run_into_quiet_hours_wait_for_the_morning(
    services: Services, clock: Clock, two_communities: dict[str, int]
) -> None:
    clock.now = at("08:00")
    notice = schedule(services, "20:55", channels="call")  # with no limit on the rate, its calls take no time
    services.settings = replace(services.settings, calls_per_second=0.01)  # now 4 calls would end at 21:01:40
    clock.now = at("20:55")
    run_start_job(services)
    assert outbound(services) == [] and status(services, notice.id) == "scheduled"
    clock.now = at("07:00", at("08:00").date() + timedelta(days=1))
    run_start_job(services)
    assert len(outbound(services)) == 4 and actions(services, notice.id) == ["schedule", "start"]


def test_a_notice_is_cancelled_only_before_it_starts(
    services: Services, clock: Clock, two_communities: dict[str, int]
) -> None:
    clock.now = at("08:00")
    first, second = schedule(services, "09:00"), schedule(services, "09:00")
    with services.sessions.begin() as session:
        admin = session.scalars(select(StaffUser)).one()
        done = notices.cancel_notice(session, first.id, actor=admin, where=household_scope(admin), now=clock.now)
    with services.sessions.begin() as session:
        admin = session.scalars(select(StaffUser)).one()
        repeated = notices.cancel_notice(session, first.id, actor=admin, where=household_scope(admin), now=clock.now)
    assert (done, repeated) == (True, False)
    assert actions(services, first.id) == ["schedule", "cancel"] and status(services, first.id) == "cancelled"

    clock.now = at("09:00")
    run_start_job(services)
    assert {r.notice_id for r in outbound(services)} == {second.id}  # the cancelled one never starts
    with services.sessions.begin() as session:
        admin = session.scalars(select(StaffUser)).one()
        with pytest.raises(InvalidAction, match="already started"):
            notices.cancel_notice(session, second.id, actor=admin, where=household_scope(admin), now=clock.now)
    assert status(services, second.id) == "sent" and actions(services, second.id) == ["schedule", "start"]


def test_the_migration_marks_earlier_notices_started_and_goes_back(tmp_path: Path) -> None:
    """0017 → 0018: a notice sent before is "started" at its creation; 0018 → 0017 drops the new columns."""
    from alembic import command

    from dispatch.db import alembic_config, make_engine, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    upgrade(engine, "0017")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO notices (id, body, channels, target_kind, target, recipients, created_by, created_at)"
                " VALUES (1, '停水', 'sms', 'community', '幸福里社区', 3, 'staff:1', '2026-11-01 08:00:00')"
            )
        )
    upgrade(engine)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT status, starts_at, started_at, created_at FROM notices")).one()
    assert (row.status, row.starts_at) == ("started", None) and row.started_at == row.created_at
    command.downgrade(alembic_config(engine), "0017")
    with engine.connect() as conn:
        assert "status" not in {c["name"] for c in inspect(conn).get_columns("notices")}
        assert conn.execute(text("SELECT body FROM notices")).scalar_one() == "停水"
