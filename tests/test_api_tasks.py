"""The task actions through the JSON API (the database rows and the SMS they decide), and JSON errors for bad
input, never a 500."""

from __future__ import annotations

import json

from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.models import ApiToken, AuditEntry, StaffRole, TaskCategory, TaskEvent, TaskPriority, TaskStatus
from hotline.services import Services
from tests.api_helpers import API, RESIDENT, ask, bearer, is_error, issue, liaison_id, outbound
from tests.conftest import BACKUP_PHONE, LIAISON_PHONE
from tests.console_helpers import task


def test_assign_tells_both_liaisons_once_and_a_repeat_is_409_with_no_sms(
    client: TestClient, services: Services, community: None
) -> None:
    secret = issue(services, StaffRole.CLERK, community="幸福里社区")
    task_id, backup = ask(client, services, "想买点菜"), liaison_id(services, BACKUP_PHONE)
    before = outbound(services)
    answer = client.post(f"{API}/tasks/{task_id}/assign", json={"liaison_id": backup}, headers=bearer(secret))
    assert answer.status_code == 200, answer.text
    assert answer.json()["messages_decided"] == 2 and answer.json()["task"]["assignee_id"] == backup
    decided = outbound(services)[len(before) :]
    assert [to for to, _ in decided] == [LIAISON_PHONE, BACKUP_PHONE]
    assert "改派" in decided[0][1] and f"接{task_id}" in decided[1][1]
    assert (task(services, task_id).assignee_liaison_id, task(services, task_id).status) == (backup, "offered")

    again = client.post(f"{API}/tasks/{task_id}/assign", json={"liaison_id": backup}, headers=bearer(secret))
    assert "李强" in is_error(again, 409)
    assert len(outbound(services)) == len(before) + 2, "the repeat decided no SMS"
    with services.readonly() as session:
        token_id = session.scalars(select(ApiToken.id)).one()
        events = session.execute(select(TaskEvent.kind, TaskEvent.actor).where(TaskEvent.task_id == task_id)).all()
        audited = session.execute(
            select(AuditEntry.action, AuditEntry.actor).where(AuditEntry.object_kind == "task")
        ).all()
    assert ("assigned", f"token:{token_id}") in events
    assert audited == [("assign", f"token:{token_id}")]


def test_note_close_cancel_and_triage_change_the_task_and_decide_the_right_sms(
    client: TestClient, services: Services, community: None
) -> None:
    headers = bearer(issue(services))
    groceries, other = ask(client, services, "想买点菜"), ask(client, services, "儿子下周来")
    assert task(services, other).category == TaskCategory.OTHER

    noted = client.post(f"{API}/tasks/{groceries}/note", json={"text": "已电话联系"}, headers=headers)
    assert noted.status_code == 200 and noted.json()["messages_decided"] == 0
    assert any(h["detail"] == "已电话联系" for h in noted.json()["task"]["history"])
    is_error(client.post(f"{API}/tasks/{groceries}/note", json={"text": "   "}, headers=headers), 409)

    before = len(outbound(services))
    closed = client.post(f"{API}/tasks/{groceries}/close", json={"note": "邻居帮买了"}, headers=headers)
    assert closed.status_code == 200 and closed.json()["task"]["status"] == "done"
    assert [to for to, _ in outbound(services)[before:]] == [RESIDENT], "the resident hears it is done"
    assert "cancelled" not in is_error(client.post(f"{API}/tasks/{groceries}/close", headers=headers), 409)
    assert len(outbound(services)) == before + 1

    triaged = client.post(f"{API}/tasks/{other}/triage", json={"category": "unwell"}, headers=headers)
    assert triaged.status_code == 200, triaged.text
    sorted_task = task(services, other)
    assert (sorted_task.category, sorted_task.priority) == (TaskCategory.UNWELL, TaskPriority.URGENT)
    assert "already sorted" in is_error(
        client.post(f"{API}/tasks/{other}/triage", json={"category": "medicine"}, headers=headers), 409
    )

    before = len(outbound(services))
    cancelled = client.post(f"{API}/tasks/{other}/cancel", headers=headers)  # no body: the reason is optional
    assert cancelled.status_code == 200 and task(services, other).status == TaskStatus.CANCELLED
    told = outbound(services)[before:]
    assert [to for to, _ in told] == [LIAISON_PHONE] and "已取消" in told[0][1]
    is_error(client.post(f"{API}/tasks/{other}/cancel", json={"reason": "again"}, headers=headers), 409)
    assert len(outbound(services)) == before + 1

    listed = client.get(f"{API}/tasks", params={"status": "done"}, headers=headers).json()["tasks"]
    assert [t["id"] for t in listed] == [groceries]
    viewed = client.get(f"{API}/tasks/{other}", headers=headers)
    assert viewed.json()["status"] == "cancelled" and {h["kind"] for h in viewed.json()["history"]} >= {"event"}
    with services.readonly() as session:
        views = session.scalars(select(AuditEntry).where(AuditEntry.action == "view", AuditEntry.object_id == other))
        assert [v.object_kind for v in views] == ["task"]


def test_bad_input_is_a_json_error_never_a_500(client: TestClient, services: Services, community: None) -> None:
    headers = bearer(issue(services))
    task_id = ask(client, services, "想买点菜")
    url = f"{API}/tasks/{task_id}/assign"
    raw = {**headers, "content-type": "application/json"}
    assert "not valid JSON" in is_error(client.post(url, content=b'{"liaison_id": ', headers=raw), 400)
    is_error(client.post(url, content=b"[" * 5000 + b"]" * 5000, headers=raw), 400)
    is_error(client.post(url, content=b"\xff\xfe\x00", headers=raw), 400)
    is_error(client.post(url, content=b"[1, 2]", headers=raw), 400)
    is_error(client.post(url, headers=headers), 400)
    is_error(client.post(url, content=b"liaison_id=1", headers={**headers, "content-type": "text/plain"}), 415)
    is_error(client.post(url, content=json.dumps({"text": "x" * 70_000}), headers=raw), 413)
    for body in (
        {"liaison_id": "2"},
        {"liaison_id": True},
        {"liaison_id": 2.5},
        {"liaison_id": -1},
        {},
        {"liaison_id": 2, "extra": 1},
        {"liaison_id": 10**20},
    ):
        is_error(client.post(url, json=body, headers=headers), 422)
    assert "groceries" in is_error(
        client.post(f"{API}/tasks/{task_id}/triage", json={"category": "飞机"}, headers=headers), 422
    )
    is_error(client.post(f"{API}/tasks/{task_id}/note", json={"text": ["x"]}, headers=headers), 422)
    is_error(client.post(f"{API}/tasks/{task_id}/note", json={"text": "a\u0000b"}, headers=headers), 422)
    is_error(client.get(f"{API}/residents", params={"q": "梁\x00"}, headers=headers), 400)
    is_error(client.post(f"{API}/tasks/{task_id}/assign", json={"liaison_id": 99999}, headers=headers), 409)
    for params in (
        {"status": "bogus"},
        {"limit": "0"},
        {"limit": "abc"},
        {"offset": "-1"},
        {"grid_id": "1e3"},
        {"category": "x"},
        {"unknown": "1"},
        {"limit": "9" * 40},
    ):
        is_error(client.get(f"{API}/tasks", params=params, headers=headers), 400)
    is_error(client.get(f"{API}/tasks", params=[("limit", "1"), ("limit", "2")], headers=headers), 400)
    for day in ("2030-13-01", "yesterday", "0001-01-01", "9999-12-31"):
        is_error(client.get(f"{API}/reports/daily", params={"day": day}, headers=headers), 400)
        is_error(client.get(f"{API}/reports/coverage", params={"end": day}, headers=headers), 400)
    is_error(client.get(f"{API}/tasks/abc", headers=headers), 404)
    is_error(client.get(f"{API}/tasks/{'9' * 30}", headers=headers), 404)
    is_error(client.get(f"{API}/residents/1x", headers=headers), 404)
    is_error(client.get(f"{API}/no-such-thing", headers=headers), 404)
    is_error(client.delete(f"{API}/tasks/{task_id}", headers=headers), 405)
    is_error(client.post(f"{API}/calls", json={}, headers=headers), 422)
    is_error(client.post(f"{API}/calls", json={"resident_ids": "1"}, headers=headers), 422)
    is_error(client.post(f"{API}/calls", json={"grid": 3}, headers=headers), 422)
    assert task(services, task_id).status == TaskStatus.OFFERED
