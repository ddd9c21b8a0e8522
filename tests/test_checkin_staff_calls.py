"""Staff calling residents about their check-in: from the command line for the unreached, the sweeper
rebuilding a lost campaign, and a staff call that never unmakes an answer of fine.

Real parts: SQLite (or PostgreSQL), redis-server, RQ workers, the webhooks through Starlette's TestClient with
Twilio's signatures, the local gateway.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time

from sqlalchemy import update
from starlette.testclient import TestClient

from dispatch.checkins.report import coverage
from dispatch.models import Resident
from hotline.jobs import checkins
from hotline.services import Services
from tests.checkin_helpers import reply, tick
from tests.conftest import DAY, PHONES, ZONE, Clock, at, local_outbox, post_signed, run_worker, sms_params


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
        # The observation times too (nobody here is under observation): their default 09:00 and 15:00 would, a few
        # minutes after either, fall just before this deadline and leave it no room.
        "HOTLINE_OBSERVATION_TIMES": f"{slot:%H:%M}",
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
    checkins.checkin_tick()
    services.redis.flushall()
    assert sweep(grace_seconds=0)["outbound"] == 8
    assert Queue(OUTBOUND, connection=services.redis).count == 0
    assert len(Queue(CHECKINS, connection=services.redis)) == 1
    run_worker(services)
    assert len(local_outbox(services)) == 8
    assert sweep(grace_seconds=0)["outbound"] == 0


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
