"""The JSON API's bearer tokens: stored only as a hash, refused when wrong or revoked, roles, and the scope a
grid leader's token cannot leave."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import ApiToken, StaffRole, TaskEvent, TaskStatus
from hotline.cli import main
from hotline.services import Services
from tests.api_helpers import API, RESIDENT, ask, bearer, is_error, issue, liaison_id, outbound, resident_id
from tests.conftest import BACKUP_PHONE, Clock
from tests.console_helpers import make_user, sign_in, task


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


@pytest.mark.parametrize("role", [StaffRole.ADMIN, StaffRole.CLERK, StaffRole.GRID_LEADER])
def test_every_role_reads_the_board(client: TestClient, services: Services, community: None, role: StaffRole) -> None:
    scope = {StaffRole.CLERK: {"community": "幸福里社区"}, StaffRole.GRID_LEADER: {"grid": "第1网格"}}.get(role, {})
    headers = bearer(issue(services, role, **scope))
    task_id = ask(client, services, "想买点菜")
    board = client.get(f"{API}/board", headers=headers)
    assert board.status_code == 200 and [t["id"] for t in board.json()["open_tasks"]] == [task_id]
