"""The task pages: list and filters, one task's history, and staff actions (triage, reassign, note, close,
cancel), each recorded under the staff member's name, scoped, and safe to repeat."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import (
    AuditEntry,
    OutboundMessage,
    StaffRole,
    Task,
    TaskCategory,
    TaskEvent,
    TaskPriority,
    TaskStatus,
)
from dispatch.tasks import staff_actions
from hotline.services import Services
from tests.conftest import BACKUP_PHONE, DUTY_PHONE, LIAISON_PHONE, post_signed, run_worker, sent_to, sms_params
from tests.console_helpers import make_user, sign_in, task

RESIDENT = "+8613800138000"  # 梁阿姨 of the `community` fixture


def ask(client: TestClient, services: Services, body: str, phone: str = RESIDENT) -> Task:
    """The resident sends an SMS; the worker makes the task and offers it. Returns the newest task."""
    assert post_signed(client, services, "/twilio/sms", sms_params(body, from_phone=phone)).status_code == 200
    run_worker(services)
    with services.sessions() as session:
        task = session.scalars(select(Task).order_by(Task.id.desc())).first()
        assert task is not None
        session.expunge(task)
        return task


def events(services: Services, task_id: int) -> list[tuple[str, str]]:
    with services.sessions() as session:
        return [(e.kind, e.actor) for e in session.scalars(select(TaskEvent).where(TaskEvent.task_id == task_id))]


def audit_actions(services: Services, task_id: int) -> list[str]:
    with services.sessions() as session:
        query = select(AuditEntry.action).where(AuditEntry.object_kind == "task", AuditEntry.object_id == task_id)
        return list(session.scalars(query.order_by(AuditEntry.id)))


def staff_id(services: Services, username: str) -> str:
    from dispatch.models import StaffUser

    with services.sessions() as session:
        found = session.scalar(select(StaffUser.id).where(StaffUser.username == username))
        return f"staff:{found}"


@pytest.fixture
def clerk(client: TestClient, services: Services, community: None) -> str:
    make_user(services, "clerk1", StaffRole.CLERK, community="幸福里社区")
    return sign_in(client, "clerk1")


def test_the_list_filters_and_an_other_task_is_triaged_once(client: TestClient, services: Services, clerk: str) -> None:
    groceries = ask(client, services, "想买点菜")
    other = ask(client, services, "儿子下周来")
    assert (groceries.category, other.category) == (TaskCategory.GROCERIES, TaskCategory.OTHER)

    listed = client.get("/tasks")
    assert f'href="/tasks/{groceries.id}"' in listed.text and 'id="to-triage"' in listed.text
    only = client.get("/tasks", params={"category": "groceries"}).text
    assert f"#{groceries.id}<" in only and f"#{other.id}<" not in only.split('id="task-list"')[1]
    assert "没有符合条件的任务" in client.get("/tasks", params={"status": "done"}).text

    answer = client.post(
        f"/tasks/{other.id}/triage", data={"category": "unwell", "csrf_token": clerk}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/tasks/{other.id}?done=triage"
    sorted_task = task(services, other.id)
    assert sorted_task.category == TaskCategory.UNWELL and sorted_task.priority == TaskPriority.URGENT
    assert ("triaged", staff_id(services, "clerk1")) in events(services, other.id)
    assert audit_actions(services, other.id) == ["triage"]
    run_worker(services)
    assert any(f"#{other.id}" in body for body in sent_to(services, DUTY_PHONE)), "urgent: duty staff told at once"

    again = client.post(f"/tasks/{other.id}/triage", data={"category": "groceries", "csrf_token": clerk})
    assert again.status_code == 409 and "这件任务已经分为“身体不适”" in again.text
    assert task(services, other.id).category == TaskCategory.UNWELL
    refused = client.post(f"/tasks/{groceries.id}/triage", data={"category": "nonsense", "csrf_token": clerk})
    assert refused.status_code == 409 and task(services, groceries.id).category == TaskCategory.GROCERIES


def test_reassigning_offers_the_task_to_the_new_liaison_and_tells_the_old_one(
    client: TestClient, services: Services, clerk: str
) -> None:
    offered = ask(client, services, "想买点菜")
    assert offered.status == TaskStatus.OFFERED
    with services.sessions() as session:
        backup = register.find_liaison_by_phone(session, BACKUP_PHONE)
        assert backup is not None
        backup_id = backup.id
    page = client.get(f"/tasks/{offered.id}").text
    assert 'id="assign-form"' in page and "李强" in page

    moved = client.post(
        f"/tasks/{offered.id}/assign", data={"liaison_id": backup_id, "csrf_token": clerk}, follow_redirects=False
    )
    assert moved.status_code == 303
    run_worker(services)
    now = task(services, offered.id)
    assert (now.status, now.assignee_liaison_id) == (TaskStatus.OFFERED, backup_id)
    assert any(f"接{offered.id}" in body for body in sent_to(services, BACKUP_PHONE))
    assert any("改派" in body for body in sent_to(services, LIAISON_PHONE))
    assert ("assigned", staff_id(services, "clerk1")) in events(services, offered.id)

    # The same click again changes nothing and sends nothing.
    with services.sessions() as session:
        before = session.scalar(select(OutboundMessage.id).order_by(OutboundMessage.id.desc()))
    again = client.post(f"/tasks/{offered.id}/assign", data={"liaison_id": backup_id, "csrf_token": clerk})
    assert again.status_code == 409 and "李强" in again.text
    with services.sessions() as session:
        assert session.scalar(select(OutboundMessage.id).order_by(OutboundMessage.id.desc())) == before

    # The new liaison takes it by SMS as with any offer.
    post_signed(client, services, "/twilio/sms", sms_params(f"接{offered.id}", from_phone=BACKUP_PHONE))
    run_worker(services)
    assert task(services, offered.id).status == TaskStatus.ACCEPTED


def test_note_close_and_cancel_are_recorded_and_closed_tasks_refuse_more(
    client: TestClient, services: Services, clerk: str
) -> None:
    first = ask(client, services, "想买点菜")
    second = ask(client, services, "帮我买药")
    assert client.post(f"/tasks/{first.id}/note", data={"text": "已电话联系", "csrf_token": clerk}).status_code == 200
    assert client.post(f"/tasks/{first.id}/note", data={"text": "  ", "csrf_token": clerk}).status_code == 409
    assert client.post(f"/tasks/{first.id}/close", data={"note": "邻居帮买了", "csrf_token": clerk}).status_code == 200
    assert (
        client.post(f"/tasks/{second.id}/cancel", data={"reason": "家属已办", "csrf_token": clerk}).status_code == 200
    )
    run_worker(services)
    assert task(services, first.id).status == TaskStatus.DONE
    assert task(services, second.id).status == TaskStatus.CANCELLED
    assert any("已完成" in body for body in sent_to(services, RESIDENT)), "the resident hears it is done"
    assert any("已取消" in body and f"#{second.id}" in body for body in sent_to(services, LIAISON_PHONE))
    # Each action, and each look at the page it leads back to.
    assert audit_actions(services, first.id) == ["note", "view", "view", "close", "view"]  # the refused note too

    history = client.get(f"/tasks/{first.id}").text
    assert "已电话联系" in history and "工作人员clerk1写了备注" in history and "工作人员clerk1办结了任务" in history
    assert "想买点菜" in history and "staff:" not in history
    assert 'id="assign-form"' not in history, "a closed task offers no actions"
    assert audit_actions(services, first.id)[-1] == "view"
    for action in ("close", "cancel"):
        refused = client.post(f"/tasks/{second.id}/{action}", data={"csrf_token": clerk})
        assert refused.status_code == 409 and "已经是“已取消”，不能再这样处理" in refused.text
    assert task(services, second.id).status == TaskStatus.CANCELLED


def test_a_grid_leader_cannot_read_or_change_another_grids_task(
    client: TestClient, services: Services, community: None
) -> None:
    with services.sessions.begin() as session:
        resident = register.find_residents_by_phone(session, RESIDENT)[0]
        assert resident.household.community is not None
        register.find_or_create_grid(session, resident.household.community, "第2网格")
    offered = ask(client, services, "想买点菜")
    make_user(services, "leader2", StaffRole.GRID_LEADER, grid="第2网格")
    csrf = sign_in(client, "leader2")
    assert client.get(f"/tasks/{offered.id}").status_code == 404
    assert f"#{offered.id}" not in client.get("/tasks").text
    for action, data in (("assign", {"liaison_id": "1"}), ("close", {}), ("cancel", {}), ("note", {"text": "x"})):
        response = client.post(f"/tasks/{offered.id}/{action}", data={**data, "csrf_token": csrf})
        assert response.status_code == 404, action
    assert task(services, offered.id).status == TaskStatus.OFFERED
    assert events(services, offered.id) == [("created", events(services, offered.id)[0][1]), ("offered", "system")]


def test_odd_and_huge_ids_are_not_ids_rather_than_errors(client: TestClient, services: Services, clerk: str) -> None:
    """ "²" passes str.isdigit() and a 21-digit number overflows the database: neither may become a 500."""
    offered = ask(client, services, "想买点菜")
    for url in (
        "/tasks?grid_id=²&liaison_id=²&offset=²",
        "/tasks?offset=" + "9" * 21,
        "/register?page=²",
        "/calls?resident_id=²&grid=²&building=²:x",
        "/calls?resident_id=" + "9" * 21,
    ):
        assert client.get(url).status_code == 200, url
    for url in ("/tasks/" + "9" * 21, "/register/residents/" + "9" * 21, "/notices/²"):
        assert client.get(url).status_code == 404, url
    refused = client.post(f"/tasks/{offered.id}/assign", data={"liaison_id": "²", "csrf_token": clerk})
    assert refused.status_code == 409 and task(services, offered.id).status == TaskStatus.OFFERED


def test_a_clerks_import_cannot_name_another_communitys_liaison(
    client: TestClient, services: Services, clerk: str
) -> None:
    with services.sessions.begin() as session:
        elsewhere = register.find_or_create_grid(
            session, register.find_or_create_community(session, "和平社区"), "和平网格"
        )
        outsider = register.add_liaison(session, name="和平网格员", phone="+8613912349999", region="CN")
        outsider.grid = elsewhere
    csv = "姓名,电话,楼栋,单元,房号,联络员电话\n新居民,13800139999,5号楼,1单元,101,13912349999\n".encode()
    page = client.post("/register/import", data={"csrf_token": clerk}, files={"file": ("r.csv", csv, "text/csv")})
    assert page.status_code == 422 and "not a registered liaison" in page.text
    with services.sessions() as session:
        assert register.find_residents_by_phone(session, "+8613800139999") == []
        names = [li.name for li in staff_actions.liaisons_in_scope(session, household_scope_of_clerk(session))]
    assert "和平网格员" not in names


def household_scope_of_clerk(session: object) -> object:
    from dispatch.models import StaffUser
    from dispatch.staff_accounts import household_scope

    user = session.scalar(select(StaffUser).where(StaffUser.username == "clerk1"))  # type: ignore[attr-defined]
    return household_scope(user)
