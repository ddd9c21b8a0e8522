"""The loop over SMS: a resident asks, the liaison takes it by reply, finishes it, and the resident hears back."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.models import Task, TaskEvent, TaskStatus
from dispatch.tasks.liaison_reading import CommandTable
from hotline.services import Services
from tests.conftest import (
    LIAISON_PHONE,
    RESIDENT_PHONE,
    STRANGER_PHONE,
    local_outbox,
    post_signed,
    run_worker,
    sms_params,
)

TABLE = CommandTable.load()


def text(client: TestClient, services: Services, body: str, sender: str = RESIDENT_PHONE) -> None:
    assert post_signed(client, services, "/twilio/sms", sms_params(body, from_phone=sender)).status_code == 200
    run_worker(services)


def tasks(services: Services) -> dict[int, Task]:
    with services.sessions() as session:
        return {t.id: t for t in session.scalars(select(Task))}


def to(services: Services, phone: str) -> list[str]:
    return [e.body for e in local_outbox(services) if e.to_phone == phone]


def test_the_whole_loop(client: TestClient, services: Services, registered: dict[str, int]) -> None:
    text(client, services, "买药，还要倒垃圾")
    medicine, rubbish = sorted(tasks(services))
    assert len(to(services, LIAISON_PHONE)) == 2  # two offers
    resident_before = len(to(services, RESIDENT_PHONE))

    text(client, services, f"接{medicine}", sender=LIAISON_PHONE)
    assert tasks(services)[medicine].status == TaskStatus.ACCEPTED
    assert tasks(services)[rubbish].status == TaskStatus.OFFERED
    taken = to(services, RESIDENT_PHONE)[resident_before:]
    assert len(taken) == 1 and "张敏" in taken[0] and "接单" in taken[0]
    assert f"已接单#{medicine}" in to(services, LIAISON_PHONE)[-1]

    text(client, services, f"完{medicine}", sender=LIAISON_PHONE)
    assert tasks(services)[medicine].status == TaskStatus.DONE
    done = to(services, RESIDENT_PHONE)[resident_before + 1 :]
    assert len(done) == 1 and "已完成" in done[0]
    with services.sessions() as session:
        trail = session.execute(
            select(TaskEvent.kind, TaskEvent.actor).where(TaskEvent.task_id == medicine).order_by(TaskEvent.id)
        ).all()
    liaison = f"liaison:{registered['liaison']}"
    assert [tuple(row) for row in trail] == [
        ("created", f"resident:{registered['resident']}"),
        ("offered", "system"),
        ("accepted", liaison),
        ("done", liaison),
    ]


def test_a_duplicate_reply_webhook_changes_nothing_and_sends_nothing(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    text(client, services, "买菜")
    [task_id] = tasks(services)
    params = sms_params(f"接{task_id}", from_phone=LIAISON_PHONE)
    for _ in range(3):
        post_signed(client, services, "/twilio/sms", params)
    run_worker(services)
    assert len(to(services, RESIDENT_PHONE)) == 2  # the receipt, and one "taken"
    again = sms_params(f"接{task_id}", from_phone=LIAISON_PHONE)  # a second, separate "take": told, no feedback
    post_signed(client, services, "/twilio/sms", again)
    run_worker(services)
    assert len(to(services, RESIDENT_PHONE)) == 2 and "当前状态：已接单" in to(services, LIAISON_PHONE)[-1]
    with services.sessions() as session:
        accepted = session.scalars(select(TaskEvent).where(TaskEvent.kind == "accepted")).all()
    assert len(accepted) == 1  # one take, however often it was said


def test_a_bare_command_works_only_when_one_task_waits(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    text(client, services, "买菜")
    text(client, services, "1 ", sender=LIAISON_PHONE)  # bare accept, with one task waiting
    [task] = tasks(services).values()
    assert task.status == TaskStatus.ACCEPTED
    text(client, services, "买药，倒垃圾")
    text(client, services, "接", sender=LIAISON_PHONE)  # two waiting: ask which, change nothing
    assert "请带上编号" in to(services, LIAISON_PHONE)[-1]
    assert sorted(t.status for t in tasks(services).values()) == ["accepted", "offered", "offered"]


def test_unclear_replies_and_other_peoples_tasks_change_nothing(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    text(client, services, "买菜")
    [task_id] = tasks(services)
    text(client, services, "...", sender=LIAISON_PHONE)
    assert "回复：接12 接单" in to(services, LIAISON_PHONE)[-1]
    text(client, services, f"接{task_id + 100}", sender=LIAISON_PHONE)
    assert "不是您的任务" in to(services, LIAISON_PHONE)[-1]
    text(client, services, f"接{task_id}", sender=STRANGER_PHONE)  # not a liaison: never acts on a task
    assert tasks(services)[task_id].status == TaskStatus.OFFERED


def test_list_note_and_hand_back(client: TestClient, services: Services, registered: dict[str, int]) -> None:
    text(client, services, "买菜")
    [task_id] = tasks(services)
    text(client, services, "?", sender=LIAISON_PHONE)
    assert f"#{task_id}买菜(待接单)" in to(services, LIAISON_PHONE)[-1]
    text(client, services, f"记{task_id} 已联系女儿", sender=LIAISON_PHONE)
    text(client, services, f"退{task_id} 今天没空", sender=LIAISON_PHONE)
    task = tasks(services)[task_id]
    # Handed back, it climbs the ladder at once; this household has no backup, grid or duty phone to reach.
    assert task.status == TaskStatus.ESCALATED and task.assignee_liaison_id is None
    with services.sessions() as session:
        notes = session.scalars(
            select(TaskEvent.detail).where(TaskEvent.kind.in_(["note", "declined"])).order_by(TaskEvent.id)
        ).all()
    assert notes == ["已联系女儿", "今天没空"]


@pytest.mark.parametrize(
    ("reply", "verb", "task_id", "words"),
    [
        ("接12", "accept", 12, ""),
        ("接 12", "accept", 12, ""),
        ("１ １２", "accept", 12, ""),
        ("1 12", "accept", 12, ""),
        ("OK 12", "accept", 12, ""),
        ("ok12", "accept", 12, ""),
        ("接单12", "accept", 12, ""),
        ("接", "accept", None, ""),
        ("完12", "done", 12, ""),
        ("done 12", "done", 12, ""),
        ("完成 #12", "done", 12, ""),
        ("退12 今天没空", "decline", 12, "今天没空"),
        ("no 12 busy", "decline", 12, "busy"),
        ("记12 已联系家属", "note", 12, "已联系家属"),
        ("note 12 Daughter visiting", "note", 12, "Daughter visiting"),
        ("?", "list", None, ""),
        ("任务", "list", None, ""),
        ("okay", None, None, ""),
        ("12", None, None, ""),
        ("123", None, None, ""),
        ("No problem", None, None, ""),
        ("no thanks", None, None, ""),
        ("No.", None, None, ""),
        ("退烧药买到了", None, None, ""),
        ("退", None, None, ""),
        ("1 2 3", None, None, ""),
        ("接什么", None, None, ""),
        ("谢谢", None, None, ""),
    ],
)
def test_command_table(reply: str, verb: str | None, task_id: int | None, words: str) -> None:
    command = TABLE.read(reply)
    assert (command.verb, command.task_id, command.text if command.verb else "") == (verb, task_id, words)


def test_a_busy_liaison_keeps_getting_answers(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    for _ in range(10):  # ten "?" in an hour: more than a resident's cap, well within a liaison's
        text(client, services, "?", sender=LIAISON_PHONE)
    assert len(to(services, LIAISON_PHONE)) == 10
