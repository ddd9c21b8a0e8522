"""The JSON API: bearer tokens (stored hashed, refused when wrong or revoked, roles, scope), the task actions
through it (database rows and the SMS they decide), JSON errors for bad input, and the OpenAPI document."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import (
    ApiToken,
    AuditEntry,
    CheckinPlan,
    OutboundMessage,
    StaffRole,
    Task,
    TaskCategory,
    TaskEvent,
    TaskPriority,
    TaskStatus,
)
from dispatch.tokens import create_token
from hotline.api.openapi import DOCUMENT
from hotline.cli import main
from hotline.services import Services
from tests.conftest import BACKUP_PHONE, LIAISON_PHONE, Clock, post_signed, run_worker, sms_params
from tests.console_helpers import make_user, sign_in, task

RESIDENT = "+8613800138000"  # 梁阿姨 of the `community` fixture, in 幸福里社区 / 第1网格
API = "/api/v1"


def issue(services: Services, role: StaffRole = StaffRole.ADMIN, **scope: str) -> str:
    with services.sessions.begin() as session:
        return create_token(session, name=f"test {role}", role=role, **scope)[1]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def ask(client: TestClient, services: Services, body: str) -> int:
    """梁阿姨 sends an SMS; the worker makes the task and offers it to 张敏. Returns the newest task's id."""
    assert post_signed(client, services, "/twilio/sms", sms_params(body, from_phone=RESIDENT)).status_code == 200
    run_worker(services)
    with services.sessions() as session:
        found = session.scalar(select(Task.id).order_by(Task.id.desc()))
        assert found is not None
        return found


def outbound(services: Services) -> list[tuple[str, str]]:
    """Every SMS or call decided, oldest first: (to, body)."""
    with services.sessions() as session:
        return [(m.to_phone, m.body) for m in session.scalars(select(OutboundMessage).order_by(OutboundMessage.id))]


def liaison_id(services: Services, phone: str) -> int:
    with services.sessions() as session:
        found = register.find_liaison_by_phone(session, phone)
        assert found is not None
        return found.id


def resident_id(services: Services) -> int:
    with services.sessions() as session:
        return register.find_residents_by_phone(session, RESIDENT)[0].id


def is_error(response: Any, status: int) -> str:
    """Assert a JSON error with this status; return its message."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    message = response.json()["error"]
    assert isinstance(message, str) and message
    return message


# ── Tokens ───────────────────────────────────────────────────────────────────────────────────────────────────


def test_a_token_from_the_cli_works_is_stored_only_as_a_hash_and_can_be_revoked(
    client: TestClient, services: Services, environ: dict[str, str], community: None
) -> None:
    runner = CliRunner()
    create = ["tokens", "create", "--name", "数据大屏", "--role", "clerk", "--community", "幸福里社区"]
    made = runner.invoke(main, create, env=environ)
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert re.fullmatch(r"hl_[A-Za-z0-9_\-]{43}", secret), made.stdout
    assert "will not be shown again" in made.output

    with services.readonly() as session:
        token = session.scalars(select(ApiToken)).one()
        stored = [str(getattr(token, column.key)) for column in ApiToken.__table__.columns]
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert not any(secret in value for value in stored), "the secret itself is stored nowhere"
    assert token.role == "clerk" and token.community_id is not None and token.last_used_at is None

    board = client.get(f"{API}/board", headers=bearer(secret))
    assert board.status_code == 200 and board.json()["total"]["community"] == "*"
    with services.readonly() as session:
        assert session.scalars(select(ApiToken)).one().last_used_at is not None

    listed = runner.invoke(main, ["tokens", "list"], env=environ)
    assert token.prefix in listed.output and "数据大屏" in listed.output and secret not in listed.output
    revoked = runner.invoke(main, ["tokens", "revoke", token.prefix], env=environ)
    assert revoked.exit_code == 0, revoked.output
    is_error(client.get(f"{API}/board", headers=bearer(secret)), 401)
    again = runner.invoke(main, ["tokens", "revoke", str(token.id)], env=environ)
    assert again.exit_code == 1 and "revoked already" in again.output


def test_the_cli_refuses_a_token_without_its_scope(environ: dict[str, str], services: Services) -> None:
    runner = CliRunner()
    clerk = runner.invoke(main, ["tokens", "create", "--name", "x", "--role", "clerk"], env=environ)
    assert clerk.exit_code == 1 and "needs --community" in clerk.output
    leader = runner.invoke(
        main, ["tokens", "create", "--name", "x", "--role", "grid_leader", "--grid", "无此网格"], env=environ
    )
    assert leader.exit_code == 1 and "no such grid" in leader.output
    with services.readonly() as session:
        assert session.scalar(select(func.count(ApiToken.id))) == 0


def test_no_wrong_or_revoked_token_and_no_cookie_gets_in(client: TestClient, services: Services) -> None:
    secret = issue(services)
    for headers in (
        {},
        bearer("hl_" + "x" * 43),
        bearer(secret[:-1]),
        {"Authorization": f"Basic {secret}"},
        {"Authorization": secret},
    ):
        response = client.get(f"{API}/tasks", headers=headers)
        is_error(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert client.get(f"{API}/tasks", headers=bearer(secret)).status_code == 200
    # A signed-in console session is no API credential: the API reads no cookie (so needs no CSRF token).
    make_user(services)
    sign_in(client)
    is_error(client.get(f"{API}/tasks"), 401)
    is_error(client.post(f"{API}/tasks/1/note", json={"text": "x"}), 401)
    with services.sessions.begin() as session:
        session.scalars(select(ApiToken)).one().revoked_at = services.clock()
    is_error(client.get(f"{API}/tasks", headers=bearer(secret)), 401)


def test_last_use_is_written_at_most_once_a_minute(client: TestClient, services: Services, clock: Clock) -> None:
    secret = issue(services)

    def last_used() -> Any:
        with services.readonly() as session:
            return session.scalars(select(ApiToken)).one().last_used_at

    first = clock.now
    assert client.get(f"{API}/liaisons", headers=bearer(secret)).status_code == 200
    assert last_used() == first
    clock.now = first + timedelta(seconds=50)
    assert client.get(f"{API}/liaisons", headers=bearer(secret)).status_code == 200
    assert last_used() == first, "not written again within the minute"
    clock.now = first + timedelta(seconds=61)
    assert client.get(f"{API}/liaisons", headers=bearer(secret)).status_code == 200
    assert last_used() == clock.now


def test_the_wrong_role_gets_403(client: TestClient, services: Services, community: None) -> None:
    clerk = issue(services, StaffRole.CLERK, community="幸福里社区")
    assert "clerk" in is_error(client.get(f"{API}/audit", headers=bearer(clerk)), 403)
    admin = client.get(f"{API}/audit", headers=bearer(issue(services)))
    assert admin.status_code == 200
    assert {e["action"] for e in admin.json()["entries"]} == {"create"}  # the two tokens made


# ── Scope ────────────────────────────────────────────────────────────────────────────────────────────────────


def test_a_grid_leader_token_cannot_reach_another_grid_by_changing_an_id(
    client: TestClient, services: Services, community: None
) -> None:
    with services.sessions.begin() as session:
        resident = register.find_residents_by_phone(session, RESIDENT)[0]
        assert resident.household.community is not None
        register.find_or_create_grid(session, resident.household.community, "第2网格")
    task_id, someone = ask(client, services, "想买点菜"), resident_id(services)
    other = bearer(issue(services, StaffRole.GRID_LEADER, grid="第2网格"))
    mine = bearer(issue(services, StaffRole.GRID_LEADER, grid="幸福里社区/第1网格"))
    assert client.get(f"{API}/tasks/{task_id}", headers=mine).status_code == 200
    assert client.get(f"{API}/residents/{someone}", headers=mine).status_code == 200

    before = outbound(services)
    missing = is_error(client.get(f"{API}/tasks/99999", headers=other), 404)
    assert is_error(client.get(f"{API}/tasks/{task_id}", headers=other), 404) == missing.replace("99999", str(task_id))
    for action, body in (
        ("assign", {"liaison_id": liaison_id(services, BACKUP_PHONE)}),
        ("note", {"text": "x"}),
        ("close", {}),
        ("cancel", {}),
        ("triage", {"category": "medicine"}),
    ):
        is_error(client.post(f"{API}/tasks/{task_id}/{action}", json=body, headers=other), 404)
    assert client.get(f"{API}/tasks", headers=other).json()["tasks"] == []
    is_error(client.get(f"{API}/residents/{someone}", headers=other), 404)
    is_error(client.patch(f"{API}/residents/{someone}", json={"name": "改名"}, headers=other), 404)
    is_error(
        client.put(f"{API}/residents/{someone}/liaisons", json={"primary_id": None, "backup_id": None}, headers=other),
        404,
    )
    assert client.get(f"{API}/residents", params={"q": "梁"}, headers=other).json()["residents"] == []
    is_error(client.post(f"{API}/calls", json={"resident_ids": [someone]}, headers=other), 404)
    is_error(
        client.post(
            f"{API}/notices",
            json={"target_kind": "grid", "target": "幸福里社区/第1网格", "body": "停水通知"},
            headers=other,
        ),
        404,
    )
    assert outbound(services) == before, "no SMS, call or notice decided"

    assert task(services, task_id).status == TaskStatus.OFFERED
    with services.readonly() as session:
        kinds = set(session.scalars(select(TaskEvent.kind).where(TaskEvent.task_id == task_id)))
        assert kinds == {"created", "offered"}
        assert register.find_residents_by_phone(session, RESIDENT)[0].name == "梁阿姨"


# ── Task actions ─────────────────────────────────────────────────────────────────────────────────────────────


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


# ── Bad input ────────────────────────────────────────────────────────────────────────────────────────────────


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


# ── The register, calls and reports ──────────────────────────────────────────────────────────────────────────


def test_residents_are_found_read_with_an_audit_entry_and_edited(
    client: TestClient, services: Services, community: None
) -> None:
    headers = bearer(issue(services, StaffRole.CLERK, community="幸福里社区"))
    someone = resident_id(services)
    found = client.get(f"{API}/residents", params={"q": "138 0013 8000"}, headers=headers).json()["residents"]
    assert [r["id"] for r in found] == [someone] and found[0]["phone"] == "138****8000"

    record = client.get(f"{API}/residents/{someone}", headers=headers)
    assert record.status_code == 200, record.text
    assert record.json()["resident"]["phones"] == [{"phone": RESIDENT, "landline": False}]
    assert record.json()["resident"]["liaison"]["name"] == "张敏"

    changed = client.patch(
        f"{API}/residents/{someone}", json={"name": "梁秀英", "categories": ["elderly_alone"]}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["changed"] == ["name", "categories"] and changed.json()["resident"]["name"] == "梁秀英"
    refused = client.patch(f"{API}/residents/{someone}", json={"phones": ["12"], "risk": "purple"}, headers=headers)
    assert is_error(refused, 422) and {p["field"] for p in refused.json()["problems"]} == {"phones", "risk"}
    is_error(client.patch(f"{API}/residents/{someone}", json={"age": 80}, headers=headers), 422)
    is_error(client.patch(f"{API}/residents/{someone}", json={"name": 5}, headers=headers), 422)

    backup, primary = liaison_id(services, BACKUP_PHONE), liaison_id(services, LIAISON_PHONE)
    swapped = client.put(
        f"{API}/residents/{someone}/liaisons", json={"primary_id": backup, "backup_id": primary}, headers=headers
    )
    assert swapped.status_code == 200 and swapped.json()["changed"] == ["primary_liaison", "backup_liaison"]
    is_error(client.put(f"{API}/residents/{someone}/liaisons", json={"primary_id": backup}, headers=headers), 422)

    plan = client.put(f"{API}/residents/{someone}/plan", json={"times": ["09:00", "15:00"]}, headers=headers)
    assert plan.status_code == 200 and plan.json()["changed"] == ["plan"]
    quiet = client.put(f"{API}/residents/{someone}/plan", json={"times": ["23:30"]}, headers=headers)
    assert [p["code"] for p in quiet.json()["problems"]] == ["quiet_time"] and quiet.status_code == 422
    is_error(client.put(f"{API}/residents/{someone}/plan", json={"times": "09:00"}, headers=headers), 422)

    with services.readonly() as session:
        resident = register.find_residents_by_phone(session, RESIDENT)[0]
        assert resident.name == "梁秀英" and resident.household.primary_liaison_id == backup
        own = session.scalars(select(CheckinPlan).where(CheckinPlan.resident_id == someone)).one()
        assert list(own.times) == ["09:00", "15:00"]
        query = select(AuditEntry.action, AuditEntry.detail).where(AuditEntry.object_kind == "resident")
        entries = session.execute(query.order_by(AuditEntry.id)).all()
    assert entries == [
        ("view", ""),
        ("edit", "name, categories"),
        ("edit", "primary_liaison, backup_liaison"),
        ("edit", "plan"),
    ]
    assert not any("138" in detail for _, detail in entries)


def test_a_call_is_decided_for_the_selection_and_a_dry_run_decides_none(
    client: TestClient, services: Services, community: None, clock: Clock
) -> None:
    from tests.conftest import at

    clock.now = at("10:00")
    headers, someone = bearer(issue(services)), resident_id(services)
    trial = client.post(
        f"{API}/calls",
        json={"not_reached_today": True, "category": "elderly_alone", "resident_ids": [someone], "dry_run": True},
        headers=headers,
    )
    assert trial.status_code == 200 and trial.json()["selected"] == 0, "nothing due yet, and no category"
    trial = client.post(f"{API}/calls", json={"resident_ids": [someone], "dry_run": True}, headers=headers)
    assert trial.json() == {
        "dry_run": True,
        "selected": 1,
        "seconds": trial.json()["seconds"],
        "resident_ids": [someone],
        "called": [],
        "skipped": {},
    }
    assert outbound(services) == []
    placed = client.post(f"{API}/calls", json={"resident_ids": [someone]}, headers=headers)
    assert placed.status_code == 200 and placed.json()["called"] == [someone]
    with services.readonly() as session:
        calls = session.scalars(select(OutboundMessage).where(OutboundMessage.kind == "checkin")).all()
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "call")).one()
    assert [c.to_phone for c in calls] == [RESIDENT] and audited.actor.startswith("token:")
    is_error(client.post(f"{API}/calls", json={"building": "3号楼"}, headers=headers), 422)
    is_error(client.post(f"{API}/calls", json={"grid_id": 99999}, headers=headers), 404)


def test_a_notice_is_previewed_sent_once_per_request_key_and_followed(
    client: TestClient, services: Services, community: None, clock: Clock
) -> None:
    from tests.conftest import at

    clock.now = at("10:00")
    headers = bearer(issue(services, StaffRole.CLERK, community="幸福里社区"))
    notice = {"target_kind": "community", "target": "幸福里社区", "channels": "sms", "body": "明天上午9点到11点停水"}
    preview = client.post(f"{API}/notices/preview", json=notice, headers=headers)
    assert preview.status_code == 200, preview.text
    assert (preview.json()["residents"], preview.json()["sms"], preview.json()["ok"]) == (1, 1, True)
    assert preview.json()["encoding"] == "UCS-2" and preview.json()["segments"] == 1
    assert outbound(services) == [], "a preview sends nothing"

    sent = client.post(f"{API}/notices", json={**notice, "request_key": "key-0001"}, headers=headers)
    assert sent.status_code == 200, sent.text
    notice_id = sent.json()["notice"]["id"]
    assert sent.json()["messages_decided"] == 1 and sent.json()["notice"]["recipients"] == 1
    with services.readonly() as session:
        copies = session.scalars(select(OutboundMessage).where(OutboundMessage.notice_id == notice_id)).all()
    assert [(c.to_phone, c.body, c.kind) for c in copies] == [(RESIDENT, notice["body"], "sms")]
    again = client.post(f"{API}/notices", json={**notice, "request_key": "key-0001"}, headers=headers)
    assert again.json()["notice"]["id"] == notice_id and again.json()["messages_decided"] == 0
    assert len(outbound(services)) == 1

    listed = client.get(f"{API}/notices", headers=headers).json()["notices"]
    assert [n["id"] for n in listed] == [notice_id]
    one = client.get(f"{API}/notices/{notice_id}", headers=headers).json()
    assert one["counts"]["sms"]["total"] == 1
    is_error(client.get(f"{API}/notices/{notice_id + 1}", headers=headers), 404)
    for bad in (
        {"target_kind": "street"},
        {"body": "  "},
        {"channels": "fax"},
        {"body": "长" * 301},
        {"target_kind": "category", "target": "giants"},
        {"target": None},
    ):
        is_error(client.post(f"{API}/notices", json={**notice, **bad}, headers=headers), 422)
    is_error(client.post(f"{API}/notices", json={**notice, "request_key": "short"}, headers=headers), 409)
    clock.now = at("22:30")
    refused = client.post(f"{API}/notices", json={**notice, "channels": "call"}, headers=headers)
    assert "quiet hours" in is_error(refused, 409)
    assert len(outbound(services)) == 1


def test_reports_answer_for_a_day_and_a_trend(client: TestClient, services: Services, community: None) -> None:
    headers = bearer(issue(services))
    ask(client, services, "想买点菜")
    today = services.clock().astimezone(services.settings.timezone).date()
    daily = client.get(f"{API}/reports/daily", params={"day": today.isoformat()}, headers=headers)
    assert daily.status_code == 200 and daily.json()["total"]["tasks"]["groceries"] == 1
    trend = client.get(f"{API}/reports/coverage", params={"days": "3"}, headers=headers).json()
    assert [d["day"] for d in trend["trend"]][-1] == today.isoformat() and len(trend["trend"]) == 3


# ── The OpenAPI document ─────────────────────────────────────────────────────────────────────────────────────


def api_routes(client: TestClient) -> set[tuple[str, str]]:
    """(path, method) of every route under the /api/v1 mount, walked from the app."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                walk(list(route.routes), prefix + route.path)
            elif isinstance(route, Route):
                found.update((prefix + route.path, m.lower()) for m in route.methods or () if m != "HEAD")

    mount = next(r for r in client.app.routes if isinstance(r, Mount) and r.path == API)  # type: ignore[attr-defined]
    walk(list(mount.routes), "")
    return found


def test_the_openapi_document_matches_the_routes_and_is_public(client: TestClient) -> None:
    routes = api_routes(client)
    documented = {(path, method) for path, methods in DOCUMENT["paths"].items() for method in methods}
    assert routes - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routes == set(), "documented operations that are no route"
    served = client.get(f"{API}/openapi.json")
    assert served.status_code == 200 and served.json() == json.loads(json.dumps(DOCUMENT))


def test_the_openapi_document_is_well_formed() -> None:
    assert DOCUMENT["openapi"].startswith("3.1") and DOCUMENT["info"]["title"] and DOCUMENT["info"]["version"]
    assert DOCUMENT["components"]["securitySchemes"]["bearerAuth"] == {
        **DOCUMENT["components"]["securitySchemes"]["bearerAuth"],
        "type": "http",
        "scheme": "bearer",
    }
    schemas = DOCUMENT["components"]["schemas"]
    text = json.dumps(DOCUMENT)
    for name in re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text):
        assert name in schemas, f"dangling $ref {name}"
    operation_ids = []
    for path, methods in DOCUMENT["paths"].items():
        assert path.startswith("/")
        declared = set(re.findall(r"\{([a-z_]+)\}", path))
        for method, operation in methods.items():
            assert method in ("get", "post", "put", "patch", "delete")
            operation_ids.append(operation["operationId"])
            params = operation.get("parameters", [])
            assert {p["name"] for p in params if p["in"] == "path"} == declared, (path, method)
            assert all(p["required"] for p in params if p["in"] == "path")
            assert len({(p["name"], p["in"]) for p in params}) == len(params)
            assert "200" in operation["responses"] and all(r["description"] for r in operation["responses"].values())
            if operation.get("security") != []:
                error = operation["responses"]["401"]["content"]["application/json"]["schema"]
                assert error == {"$ref": "#/components/schemas/Error"}
            if method in ("get", "delete"):
                assert "requestBody" not in operation
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"


@pytest.mark.parametrize("role", [StaffRole.ADMIN, StaffRole.CLERK, StaffRole.GRID_LEADER])
def test_every_role_reads_the_board(client: TestClient, services: Services, community: None, role: StaffRole) -> None:
    scope = {StaffRole.CLERK: {"community": "幸福里社区"}, StaffRole.GRID_LEADER: {"grid": "第1网格"}}.get(role, {})
    headers = bearer(issue(services, role, **scope))
    task_id = ask(client, services, "想买点菜")
    board = client.get(f"{API}/board", headers=headers)
    assert board.status_code == 200 and [t["id"] for t in board.json()["open_tasks"]] == [task_id]
