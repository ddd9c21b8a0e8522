"""Notes on a task: staff notes are for staff unless marked for the liaison; the liaison holding the task asks for
them by SMS (备注12, 看备注12, notes 12) and gets only those, by the outbox; another liaison gets none of them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text
from starlette.testclient import TestClient

from dispatch.db import make_engine, make_session_factory, upgrade
from dispatch.models import OutboundMessage, StaffRole, Task, TaskEvent
from dispatch.tasks.liaison_reading import CommandTable
from hotline.services import Services
from tests.api_helpers import API, bearer, issue
from tests.conftest import BACKUP_PHONE, LIAISON_PHONE, post_signed, run_worker, sent_to, sms_params
from tests.console_helpers import make_user, sign_in
from tests.test_console_tasks import ask

PRIVATE = "老人有抑郁症，别提住院的事"
SHARED = "单元门坏了，到楼下先打女儿电话"


@pytest.mark.parametrize(
    ("text", "verb", "task_id", "words"),
    [
        ("备注12", "notes", 12, ""),
        ("记 12", "notes", 12, ""),
        ("看备注12", "notes", 12, ""),
        ("查备注", "notes", None, ""),
        ("notes 12", "notes", 12, ""),
        ("Notes #12", "notes", 12, ""),
        ("备注12 已联系家属", "note", 12, "已联系家属"),
        ("note 12 called her son", "note", 12, "called her son"),
        ("notes 12 please", None, None, ""),
        ("备注", None, None, ""),
    ],
)
def test_a_note_word_with_only_a_number_asks_for_the_notes(
    text: str, verb: str | None, task_id: int | None, words: str
) -> None:
    command = CommandTable.load().read(text)
    assert (command.verb, command.task_id, command.text) == (verb, task_id, words)


def liaison_says(client: TestClient, services: Services, phone: str, body: str) -> None:
    assert post_signed(client, services, "/twilio/sms", sms_params(body, from_phone=phone)).status_code == 200
    run_worker(services)


def note(client: TestClient, csrf: str, task_id: int, text: str, *, shared: bool) -> None:
    form = {"text": text, "csrf_token": csrf, **({"for_liaison": "1"} if shared else {})}
    answer = client.post(f"/tasks/{task_id}/note", data=form, follow_redirects=False)
    assert answer.status_code == 303, answer.text


def test_the_liaison_holding_the_task_gets_only_the_notes_meant_for_them(
    client: TestClient, services: Services, community: None
) -> None:
    make_user(services, "clerk1", StaffRole.CLERK, community="幸福里社区")
    csrf = sign_in(client, "clerk1")
    task = ask(client, services, "想买点菜")  # offered to 张敏 (LIAISON_PHONE); 李强 is the backup

    liaison_says(client, services, LIAISON_PHONE, f"备注{task.id}")
    assert sent_to(services, LIAISON_PHONE)[-1] == f"#{task.id}暂时没有给您的备注。"

    note(client, csrf, task.id, PRIVATE, shared=False)
    note(client, csrf, task.id, SHARED, shared=True)
    note(client, csrf, task.id, SHARED, shared=True)  # a double click adds it once
    with services.sessions() as session:
        notes = session.scalars(select(TaskEvent).where(TaskEvent.task_id == task.id, TaskEvent.kind == "note"))
        assert [(n.detail, n.for_liaison) for n in notes] == [(PRIVATE, False), (SHARED, True)]
    page = client.get(f"/tasks/{task.id}").text.split('id="notes"')[1]
    assert page.count("联络员可看") == 1 and PRIVATE in page

    for asking in (f"备注{task.id}", f"notes {task.id}"):
        liaison_says(client, services, LIAISON_PHONE, asking)
        answer = sent_to(services, LIAISON_PHONE)[-1]
        assert answer.startswith(f"#{task.id}的备注") and SHARED in answer and PRIVATE not in answer
    with services.sessions() as session:
        about = session.scalars(select(OutboundMessage.task_id).where(OutboundMessage.body.contains(SHARED))).all()
        assert about == [task.id, task.id], "each answer is on the task's history"
    history = client.get(f"/tasks/{task.id}").text.split('id="history"')[1]
    assert f"#{task.id}的备注" in history

    # 李强 does not hold it: he learns nothing from it, whatever he asks.
    before = len(sent_to(services, BACKUP_PHONE))
    liaison_says(client, services, BACKUP_PHONE, f"看备注{task.id}")
    told = sent_to(services, BACKUP_PHONE)[before:]
    assert told == [f"#{task.id}不是您的任务，未作更改。回复“?”查看您的任务。"]

    # A note with words is still a note, not a question.
    liaison_says(client, services, LIAISON_PHONE, f"备注{task.id} 已联系家属")
    assert sent_to(services, LIAISON_PHONE)[-1] == f"#{task.id}已记录备注。"


def test_the_api_writes_and_reads_notes_with_who_may_read_them(
    client: TestClient, services: Services, community: None
) -> None:
    task = ask(client, services, "想买点菜")
    token = bearer(issue(services, StaffRole.CLERK, community="幸福里社区"))
    for body in ({"text": PRIVATE}, {"text": SHARED, "for_liaison": True}):
        assert client.post(f"{API}/tasks/{task.id}/note", json=body, headers=token).status_code == 200
    refused = client.post(f"{API}/tasks/{task.id}/note", json={"text": "x", "for_liaison": "yes"}, headers=token)
    assert refused.status_code == 422
    notes = client.get(f"{API}/tasks/{task.id}", headers=token).json()["notes"]
    assert [(n["text"], n["for_liaison"]) for n in notes] == [(PRIVATE, False), (SHARED, True)]
    assert all(n["by"] for n in notes)
    liaison_says(client, services, LIAISON_PHONE, f"notes {task.id}")
    assert SHARED in sent_to(services, LIAISON_PHONE)[-1] and PRIVATE not in sent_to(services, LIAISON_PHONE)[-1]


def test_the_migration_keeps_every_note_for_staff_only(tmp_path: Path) -> None:
    """0017 → 0019: notes written before sharing existed stay for staff only; every task starts with no owner."""
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    upgrade(engine, "0017")
    now = "2026-12-01 08:00:00"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tasks (id, category, priority, status, description, rung, created_at, updated_at)"
                " VALUES (1, 'groceries', 'normal', 'accepted', '买菜', 0, :t, :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO task_events (id, task_id, kind, actor, channel, at, detail)"
                " VALUES (1, 1, 'note', 'staff:1', 'console', :t, :d)"
            ),
            {"t": now, "d": PRIVATE},
        )
    upgrade(engine)
    with make_session_factory(engine)() as session:
        event = session.scalars(select(TaskEvent)).one()
        assert (event.detail, event.for_liaison) == (PRIVATE, False)
        assert session.scalars(select(Task.owner_staff_id)).one() is None
    engine.dispose()
