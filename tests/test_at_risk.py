"""Who will not make the deadline, on the board; and words not understood in reply to a check-in, which climb
the ladder to reach someone by that check-in's deadline."""

from __future__ import annotations

from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.at_risk import at_risk
from dispatch.models import Household, Task, TaskCategory, TaskStatus
from dispatch.models.staff_users import StaffRole
from dispatch.tasks import escalation as ladder
from dispatch.tokens import create_token
from hotline.jobs import checkins as checkin_jobs
from hotline.services import Services
from tests.conftest import DAY, LIAISON_PHONE, PHONES, Clock, at, post_signed, run_worker, sms_params
from tests.console_helpers import make_user, sign_in


def step(services: Services, clock: Clock, hhmm: str) -> None:
    """The scheduler's tick and the sweeper's ladder at `hhmm`, and the workers after them."""
    clock.now = at(hhmm)
    checkin_jobs.checkin_tick()
    more = True
    while more:
        with services.sessions.begin() as session:
            more = ladder.escalate_due_tasks(session, clock.now, services.intake).more
    run_worker(services)


def say(client: TestClient, services: Services, clock: Clock, hhmm: str, phone: str, body: str) -> None:
    clock.now = at(hhmm)
    assert post_signed(client, services, "/twilio/sms", sms_params(body, from_phone=phone)).status_code == 200
    run_worker(services)


def board(services: Services, clock: Clock) -> dict[str, tuple[str, int | None, int, bool]]:
    """The section, by resident name: (reason, rung, minutes left, late)."""
    with services.readonly() as session:
        rows = at_risk(session, DAY, clock.now, Household.id.is_not(None), services.intake.checkin)
    return {row.resident: (row.reason, row.rung, row.minutes_left, row.late) for row in rows}


def other_task(services: Services) -> Task:
    with services.sessions() as session:
        return session.scalars(select(Task).where(Task.category == TaskCategory.OTHER)).one()


def test_unread_words_and_unanswered_check_ins_are_on_the_board_until_someone_has_them(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    step(services, clock, "08:00")
    step(services, clock, "09:00")
    for name, body in (
        ("梁阿姨", "1"),
        ("王大爷", "买药"),
        ("刘奶奶", "发烧38.5度"),
        ("陈伯", "36.5"),
        ("郑阿婆", "1"),
    ):
        say(client, services, clock, "09:05", PHONES[name], body)
    assert set(board(services, clock)) == {"赵姐", "孙爷爷", "吴叔"}  # not answered; visits not due yet

    # 11:00: 赵姐 answers, in words nobody understood. A task for her liaison, due by the deadline: its three rungs
    # share the hour left (20 minutes each, not 60), so duty staff have it by 12:00 at the latest.
    step(services, clock, "11:00")
    say(client, services, clock, "11:00", PHONES["赵姐"], "儿子下周来")
    unread = other_task(services)
    assert (unread.due_by, unread.offer_deadline) == (at("12:00"), at("11:20"))
    shown = board(services, clock)
    assert shown["赵姐"] == ("unread_reply", 0, 60, False)
    assert shown["吴叔"] == ("no_answer", None, 60, False) and shown["孙爷爷"][0] == "no_answer"

    # 11:30, planned backwards from 12:00: the visits are offered, three ten-minute rungs before the deadline.
    step(services, clock, "11:20")
    assert other_task(services).rung == 1  # to the backup liaison
    step(services, clock, "11:30")
    with services.sessions() as session:
        visits = session.scalars(select(Task).where(Task.category == TaskCategory.VISIT)).all()
    assert {v.resident_id for v in visits} == {town["吴叔"], town["孙爷爷"]}
    assert all(v.created_at == at("11:30") and v.offer_deadline == at("11:40") for v in visits)
    assert board(services, clock)["吴叔"] == ("no_answer", 0, 30, False)

    # 11:45: 张敏 takes 吴叔's visit after it climbed to 李强: 吴叔 leaves the board.
    step(services, clock, "11:40")
    wu = next(v for v in visits if v.resident_id == town["吴叔"])
    say(client, services, clock, "11:45", LIAISON_PHONE, f"接{wu.id}")
    assert "吴叔" not in board(services, clock)

    # 12:00: the others' ladders have run out: staff have them (rung 3), and the board says they missed it.
    step(services, clock, "11:50")
    step(services, clock, "12:00")
    assert other_task(services).rung == ladder.DUTY_STAFF and other_task(services).status == TaskStatus.ESCALATED
    shown = board(services, clock)
    assert set(shown) == {"赵姐", "孙爷爷"} and all(late for _, _, _, late in shown.values())

    # The console's board and the API's show the same section.
    make_user(services)
    sign_in(client)
    page = client.get("/board").text
    section = page.split('id="at-risk"')[1].split("</section>")[0]
    assert "赵姐" in section and "孙爷爷" in section and "吴叔" not in section and "赶不上" in section
    with services.sessions.begin() as session:
        secret = create_token(session, name="board", role=StaffRole.ADMIN)[1]
    api = client.get("/api/v1/board", headers={"Authorization": f"Bearer {secret}"}).json()
    assert {row["resident"]: row["reason"] for row in api["at_risk"]} == {"赵姐": "unread_reply", "孙爷爷": "no_answer"}
