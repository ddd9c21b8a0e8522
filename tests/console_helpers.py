"""Staff accounts and signed-in clients for console and simulator tests."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from dispatch.models import StaffRole, Task
from dispatch.staff_accounts import add_user
from hotline.services import Services

PASSWORD = "correct horse battery"


def make_user(services: Services, username: str = "admin", role: StaffRole = StaffRole.ADMIN, **scope: str) -> None:
    with services.sessions.begin() as session:
        add_user(session, username=username, display_name=username, password=PASSWORD, role=role, **scope)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def sign_in(client: TestClient, username: str = "admin", password: str = PASSWORD) -> str:
    """Sign in through the form, as a person would; returns the session's CSRF token."""
    form = client.get("/login")
    assert form.status_code == 200
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(form.text), "next": "/board"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/board", response.text
    board = client.get("/board")
    assert board.status_code == 200
    return csrf_of(board.text)


def task(services: Services, task_id: int) -> Task:
    """The task as stored now, detached."""
    with services.sessions() as session:
        found = session.get(Task, task_id)
        assert found is not None
        session.expunge(found)
        return found
