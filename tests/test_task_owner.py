"""A task's staff owner: taken ("I'll follow this up"), given to a colleague who can see it, released; shown on the
task page, the list and the board; the "mine" and "unassigned" filters; each change in the task's history in words
and in the audit log, and a repeat changing nothing. The same through the API."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import AuditEntry, StaffRole, StaffUser, Task, TaskEvent
from dispatch.staff_accounts import add_user
from hotline.services import Services
from tests.api_helpers import API, bearer, issue
from tests.console_helpers import PASSWORD, sign_in, task
from tests.test_console_tasks import ask

A = "幸福里社区"


def staff(services: Services, username: str) -> int:
    with services.sessions() as session:
        found = session.scalar(select(StaffUser.id).where(StaffUser.username == username))
        assert found is not None
        return found


def owner_events(services: Services, task_id: int) -> list[tuple[str, str]]:
    with services.sessions() as session:
        query = select(TaskEvent.kind, TaskEvent.detail).where(
            TaskEvent.task_id == task_id, TaskEvent.kind.startswith("owner_")
        )
        return [(kind, detail) for kind, detail in session.execute(query.order_by(TaskEvent.id))]


def audits(services: Services, task_id: int) -> list[tuple[str, str]]:
    with services.sessions() as session:
        query = select(AuditEntry.action, AuditEntry.detail).where(
            AuditEntry.object_kind == "task", AuditEntry.object_id == task_id, AuditEntry.action != "view"
        )
        return [(action, detail) for action, detail in session.execute(query.order_by(AuditEntry.id))]


def listed(client: TestClient, **params: str) -> str:
    page = client.get("/tasks", params=params)
    assert page.status_code == 200
    return page.text.split('id="task-list"')[1] if 'id="task-list"' in page.text else ""


@pytest.fixture
def clerks(client: TestClient, services: Services, community: None) -> str:
    """刘敏 and 陈芳, clerks of 幸福里社区, and 赵亮, a clerk of another community; signed in as 刘敏."""
    with services.sessions.begin() as session:
        register.find_or_create_community(session, "光明社区")
        for username, name, community_name in (
            ("liumin", "刘敏", A),
            ("chenfang", "陈芳", A),
            ("zhaoliang", "赵亮", "光明社区"),
        ):
            add_user(
                session,
                username=username,
                display_name=name,
                password=PASSWORD,
                role=StaffRole.CLERK,
                community=community_name,
            )
    return sign_in(client, "liumin")


def test_a_clerk_takes_gives_and_releases_a_task_in_words_once_each(
    client: TestClient, services: Services, clerks: str
) -> None:
    groceries = ask(client, services, "想买点菜")
    medicine = ask(client, services, "帮我买药")
    me, colleague, stranger = staff(services, "liumin"), staff(services, "chenfang"), staff(services, "zhaoliang")

    page = client.get(f"/tasks/{groceries.id}").text
    assert 'id="take-form"' in page and "没人跟进" in page
    assert "陈芳" in page.split('id="give-form"')[1] and "赵亮" not in page, "only staff who can see the task"

    taken = client.post(
        f"/tasks/{groceries.id}/owner", data={"take": "1", "csrf_token": clerks}, follow_redirects=False
    )
    assert taken.status_code == 303 and taken.headers["location"] == f"/tasks/{groceries.id}?done=owner"
    assert task(services, groceries.id).owner_staff_id == me
    again = client.post(
        f"/tasks/{groceries.id}/owner", data={"take": "1", "csrf_token": clerks}, follow_redirects=False
    )
    assert again.status_code == 303, "a double click is not an error"
    assert owner_events(services, groceries.id) == [("owner_taken", f"staff:{me}")], "and records nothing more"
    page = client.get(f"/tasks/{groceries.id}").text
    assert (
        '<dd id="owner-name">刘敏</dd>' in page
        and "工作人员刘敏认领跟进这个任务" in page
        and 'id="take-form"' not in page
    )

    # The list: "mine", "unassigned", each combined with another filter; the board shows the owner too.
    mine = listed(client, owner="mine")
    assert f"#{groceries.id}<" in mine and f"#{medicine.id}<" not in mine and "刘敏" in mine
    unassigned = listed(client, owner="unassigned")
    assert f"#{medicine.id}<" in unassigned and f"#{groceries.id}<" not in unassigned
    assert f"#{medicine.id}<" not in listed(client, owner="unassigned", category="groceries")
    assert listed(client, owner="mine", status="done") == ""
    board = client.get("/board").text.split('id="open-tasks"')[1]
    assert board.split(f'data-task="{groceries.id}"')[1].split("</tr>")[0].count("刘敏") == 1
    assert 'href="/tasks?owner=unassigned"' in client.get("/board").text

    # A take from a page drawn before: refused, the owner kept.
    late = client.post(
        f"/tasks/{medicine.id}/owner", data={"staff_id": str(colleague), "csrf_token": clerks}, follow_redirects=False
    )
    assert late.status_code == 303 and task(services, medicine.id).owner_staff_id == colleague
    stale_take = client.post(
        f"/tasks/{medicine.id}/owner", data={"take": "1", "seen_owner_id": "", "csrf_token": clerks}
    )
    assert stale_take.status_code == 409 and "陈芳" in stale_take.text
    assert task(services, medicine.id).owner_staff_id == colleague
    client.post(f"/tasks/{medicine.id}/owner", data={"release": "1", "csrf_token": clerks})
    assert task(services, medicine.id).owner_staff_id is None

    # Given to a colleague of the same community; not to a clerk who cannot see it.
    refused = client.post(f"/tasks/{groceries.id}/owner", data={"staff_id": str(stranger), "csrf_token": clerks})
    assert refused.status_code == 409 and task(services, groceries.id).owner_staff_id == me
    given = client.post(
        f"/tasks/{groceries.id}/owner", data={"staff_id": str(colleague), "csrf_token": clerks}, follow_redirects=False
    )
    assert given.status_code == 303 and task(services, groceries.id).owner_staff_id == colleague
    assert f"#{groceries.id}<" not in listed(client, owner="mine")

    # A release from a page that still showed me as the owner does not take it from 陈芳.
    stale = client.post(
        f"/tasks/{groceries.id}/owner", data={"release": "1", "seen_owner_id": str(me), "csrf_token": clerks}
    )
    assert stale.status_code == 409 and "陈芳" in stale.text
    assert task(services, groceries.id).owner_staff_id == colleague
    released = client.post(
        f"/tasks/{groceries.id}/owner",
        data={"release": "1", "seen_owner_id": str(colleague), "csrf_token": clerks},
        follow_redirects=False,
    )
    assert released.status_code == 303 and task(services, groceries.id).owner_staff_id is None
    client.post(f"/tasks/{groceries.id}/owner", data={"release": "1", "csrf_token": clerks})
    assert owner_events(services, groceries.id) == [
        ("owner_taken", f"staff:{me}"),
        ("owner_given", f"staff:{colleague}"),
        ("owner_released", f"staff:{colleague}"),
    ]
    assert audits(services, groceries.id) == [
        ("own", f"staff:{me}"),
        ("own", f"staff:{colleague}"),
        ("release", ""),
    ]
    history = client.get(f"/tasks/{groceries.id}").text.split('id="history"')[1]
    assert (
        "工作人员刘敏把任务交给工作人员陈芳跟进" in history and "工作人员刘敏让工作人员陈芳不再跟进这个任务" in history
    )
    assert "owner_" not in history and "staff:" not in history


def test_the_api_shows_filters_and_sets_the_owner(client: TestClient, services: Services, clerks: str) -> None:
    groceries = ask(client, services, "想买点菜")
    medicine = ask(client, services, "帮我买药")
    colleague, stranger = staff(services, "chenfang"), staff(services, "zhaoliang")
    token = bearer(issue(services, StaffRole.CLERK, community=A))

    def owner(task_id: int, **body: object) -> dict[str, object]:
        answer = client.post(f"{API}/tasks/{task_id}/owner", json=body, headers=token)
        assert answer.status_code == 200, answer.text
        return dict(answer.json()["task"])

    made = owner(groceries.id, staff_id=colleague)
    assert (made["owner"], made["owner_id"]) == ("陈芳", colleague)
    assert owner(groceries.id, staff_id=colleague)["owner_id"] == colleague
    assert owner_events(services, groceries.id) == [("owner_given", f"staff:{colleague}")], (
        "the same request again: nothing more"
    )

    def ids(**params: str) -> list[int]:
        answer = client.get(f"{API}/tasks", params=params, headers=token)
        assert answer.status_code == 200, answer.text
        return [row["id"] for row in answer.json()["tasks"]]

    assert ids(owner_id=str(colleague)) == [groceries.id]
    assert ids(owner="unassigned") == [medicine.id]
    assert ids(owner="unassigned", category="groceries") == []
    assert client.get(f"{API}/tasks", params={"owner": "mine"}, headers=token).status_code == 400

    refused = client.post(f"{API}/tasks/{groceries.id}/owner", json={"staff_id": stranger}, headers=token)
    assert refused.status_code == 409 and task(services, groceries.id).owner_staff_id == colleague
    stale = {"staff_id": None, "expected_owner_id": None}  # the client saw nobody; 陈芳 has it
    assert client.post(f"{API}/tasks/{groceries.id}/owner", json=stale, headers=token).status_code == 409
    missing = client.post(f"{API}/tasks/{groceries.id}/owner", json={}, headers=token)
    assert missing.status_code == 422 and task(services, groceries.id).owner_staff_id == colleague
    assert owner(groceries.id, staff_id=None, expected_owner_id=colleague)["owner_id"] is None
    with services.sessions() as session:
        stored = session.get(Task, groceries.id)
        assert stored is not None and stored.owner_staff_id is None
    board = client.get(f"{API}/board", headers=token).json()["open_tasks"]
    assert {row["owner"] for row in board} == {"-"}
