"""Liaisons' natural replies over the signed webhook: 收到 takes the one task waiting, 送到了 finishes it, several
tasks make it ask which, and words about a task that cannot be read go to staff on the task."""

from __future__ import annotations

from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.models import InboundMessage, Task, TaskEvent
from dispatch.tasks.staff_views import task_detail
from hotline.jobs import inbound
from hotline.services import Services
from tests.conftest import LIAISON_PHONE, RESIDENT_PHONE, local_outbox, post_signed, run_worker, sms_params
from tests.console_helpers import make_user, sign_in

CHINESE = "零一二三四五六七八九"


def chinese(number: int) -> str:
    """7 → 七, 12 → 十二, 27 → 二十七."""
    tens, ones = divmod(number, 10)
    return (CHINESE[tens] if tens > 1 else "") + ("十" if tens else "") + (CHINESE[ones] if ones or not tens else "")


def text(client: TestClient, services: Services, body: str, sender: str = RESIDENT_PHONE) -> None:
    assert post_signed(client, services, "/twilio/sms", sms_params(body, from_phone=sender)).status_code == 200
    run_worker(services)


def statuses(services: Services) -> dict[int, str]:
    with services.sessions() as session:
        return {t.id: str(t.status) for t in session.scalars(select(Task).order_by(Task.id))}


def events(services: Services, kind: str) -> list[tuple[int, str, str]]:
    with services.sessions() as session:
        rows = session.execute(
            select(TaskEvent.task_id, TaskEvent.actor, TaskEvent.detail)
            .where(TaskEvent.kind == kind)
            .order_by(TaskEvent.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def to(services: Services, phone: str) -> list[str]:
    return [e.body for e in local_outbox(services) if e.to_phone == phone]


def test_got_it_takes_the_one_task_and_delivered_finishes_it(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    text(client, services, "买菜")
    [task_id] = statuses(services)
    text(client, services, "收到", sender=LIAISON_PHONE)
    assert statuses(services) == {task_id: "accepted"}
    assert f"已接单#{task_id}" in to(services, LIAISON_PHONE)[-1]
    assert "张敏" in to(services, RESIDENT_PHONE)[-1] and "接单" in to(services, RESIDENT_PHONE)[-1]
    text(client, services, "好的", sender=LIAISON_PHONE)  # "got it" again, on a task already taken: nothing changes
    assert statuses(services) == {task_id: "accepted"}
    assert to(services, LIAISON_PHONE)[-1] == f"#{task_id}已由您接单，办完后回复“完{task_id}”。"
    text(client, services, "送到了，放门口了", sender=LIAISON_PHONE)
    assert statuses(services) == {task_id: "done"}
    assert "已完成" in to(services, RESIDENT_PHONE)[-1] and len(to(services, RESIDENT_PHONE)) == 3
    liaison = f"liaison:{registered['liaison']}"
    assert [(e[0], e[1]) for e in events(services, "accepted")] == [(task_id, liaison)]
    assert events(services, "done") == [(task_id, liaison, "送到了，放门口了")]  # the words are kept


def test_the_number_before_or_after_in_digits_or_chinese(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    text(client, services, "买药，倒垃圾")
    medicine, rubbish = statuses(services)
    text(client, services, f"{medicine}接了", sender=LIAISON_PHONE)
    text(client, services, f"接{chinese(rubbish)}号", sender=LIAISON_PHONE)
    assert statuses(services) == {medicine: "accepted", rubbish: "accepted"}
    text(client, services, f"{chinese(rubbish)}号完成", sender=LIAISON_PHONE)
    text(client, services, f"送到了{medicine}", sender=LIAISON_PHONE)
    assert statuses(services) == {medicine: "done", rubbish: "done"}


def test_with_several_tasks_an_unnumbered_reply_asks_which_and_changes_nothing(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    text(client, services, "买药，倒垃圾")
    medicine, rubbish = statuses(services)
    for reply in ("好的", "去不了", "她说明天再说"):
        text(client, services, reply, sender=LIAISON_PHONE)
        assert to(services, LIAISON_PHONE)[-1] == (
            f"您有2个任务：#{medicine}买药(待接单) #{rubbish}倒垃圾/取快递(待接单)。请带上编号回复，"
            f"如“接{medicine}”“完{medicine}”。"
        )
    assert statuses(services) == {medicine: "offered", rubbish: "offered"}
    assert events(services, "flagged") == []
    text(client, services, f"{rubbish}好的", sender=LIAISON_PHONE)
    assert statuses(services) == {medicine: "offered", rubbish: "accepted"}


def test_unclear_words_about_the_task_go_to_staff_on_it(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    text(client, services, "买菜")
    [task_id] = statuses(services)
    text(client, services, "她说明天再说", sender=LIAISON_PHONE)
    assert statuses(services) == {task_id: "offered"}  # nothing changed by guesswork
    assert to(services, LIAISON_PHONE)[-1] == f"您关于#{task_id}的回复已转给社区工作人员，他们会跟进。"
    liaison = f"liaison:{registered['liaison']}"
    assert events(services, "flagged") == [(task_id, liaison, "她说明天再说")]
    with services.sessions() as session:
        task = session.get(Task, task_id)
        assert task is not None and task.flagged_at is not None  # the task is marked for staff to look at
        detail = task_detail(session, task_id, Task.id.is_not(None))
    assert [(h.what, h.detail) for h in detail.history if h.what == "flagged"] == [("flagged", "她说明天再说")]
    make_user(services)
    sign_in(client)
    page = client.get(f"/tasks/{task_id}").text
    assert "请工作人员查看" in page and "她说明天再说" in page and "张敏" in page
    # The board marks it too, where staff look all day, and puts it before unflagged tasks of its urgency.
    text(client, services, "想买药")
    board = client.get("/board").text
    row = board[board.index(f'data-task="{task_id}"') :]
    assert "flagged" in board[: board.index(f'data-task="{task_id}"')].rsplit("<tr", 1)[1]
    assert "请工作人员查看" in row[: row.index("</tr>")]
    assert board.index(f'data-task="{task_id}"') < board.index(f'data-task="{task_id + 1}"')
    other = board[board.index(f'data-task="{task_id + 1}"') :]
    assert "请工作人员查看" not in other[: other.index("</tr>")]


def test_turned_round_words_take_and_finish_nothing(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    text(client, services, "买菜")
    [task_id] = statuses(services)
    text(client, services, "接了吗", sender=LIAISON_PHONE)  # a question: for staff, not a take
    assert statuses(services) == {task_id: "offered"}
    text(client, services, f"接{task_id}", sender=LIAISON_PHONE)
    text(client, services, "还没送到", sender=LIAISON_PHONE)
    text(client, services, f"{task_id}没完成", sender=LIAISON_PHONE)
    assert statuses(services) == {task_id: "accepted"}
    assert [e[2] for e in events(services, "flagged")] == ["接了吗", "还没送到", f"{task_id}没完成"]
    assert len(to(services, RESIDENT_PHONE)) == 2  # the receipt and "taken"; never "done"


def test_cant_go_hands_it_back_and_the_ladder_climbs(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    text(client, services, "买菜")
    [task_id] = statuses(services)
    text(client, services, "不好意思，今天去不了", sender=LIAISON_PHONE)
    assert statuses(services) == {task_id: "escalated"}  # no backup here: it climbs straight past
    assert events(services, "declined")[0][2] == "不好意思，今天去不了"
    assert f"#{task_id}已退回" in to(services, LIAISON_PHONE)[-1]


def test_a_sign_of_danger_goes_to_staff_even_with_done_in_it(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    text(client, services, "买药")
    [task_id] = statuses(services)
    text(client, services, f"接{task_id}", sender=LIAISON_PHONE)
    text(client, services, "药送到了，但老人说胸闷", sender=LIAISON_PHONE)
    assert statuses(services) == {task_id: "accepted"}
    assert [e[2] for e in events(services, "flagged")] == ["药送到了，但老人说胸闷"]


def test_thanks_gets_no_answer_and_changes_nothing(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    text(client, services, "买菜")
    [task_id] = statuses(services)
    before = len(to(services, LIAISON_PHONE))
    text(client, services, "谢谢！", sender=LIAISON_PHONE)
    assert len(to(services, LIAISON_PHONE)) == before and statuses(services) == {task_id: "offered"}


def test_the_same_natural_reply_delivered_twice_acts_once_and_answers_once(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    text(client, services, "买菜")
    [task_id] = statuses(services)
    for body in ("她说明天再说", "好的", "送到了"):
        params = sms_params(body, from_phone=LIAISON_PHONE)
        for _ in range(3):
            assert post_signed(client, services, "/twilio/sms", params).status_code == 200
        run_worker(services)
        with services.sessions() as session:
            message_id = session.scalars(select(InboundMessage.id).where(InboundMessage.body == body)).one()
        assert inbound.process_inbound_sms(message_id) == "already handled"  # the job run again
        run_worker(services)
    assert statuses(services) == {task_id: "done"}
    assert [len(events(services, kind)) for kind in ("flagged", "accepted", "done")] == [1, 1, 1]
    assert len(to(services, LIAISON_PHONE)) == 1 + 3  # the offer, and one answer to each reply
    assert len(to(services, RESIDENT_PHONE)) == 3  # the receipt, "taken", "done"


def test_a_sign_of_danger_with_no_task_reaches_duty_staff_as_an_urgent_task(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    params = sms_params("老人摔倒了", from_phone=LIAISON_PHONE)
    for _ in range(2):  # delivered twice, and its job run again: one task, one answer
        assert post_signed(client, services, "/twilio/sms", params).status_code == 200
        run_worker(services)
    with services.sessions() as session:
        message_id = session.scalars(select(InboundMessage.id)).one()
    assert inbound.process_inbound_sms(message_id) == "already handled"  # the job run again
    with services.sessions() as session:
        [task] = session.scalars(select(Task)).all()
        assert (task.category, task.priority, task.household_id) == ("unwell", "urgent", None)
        assert (task.status, task.description) == ("escalated", "老人摔倒了")  # straight to the duty phone's rung
    assert to(services, LIAISON_PHONE) == ["已转告社区值班人员。如有紧急情况请立即拨打120。"]
