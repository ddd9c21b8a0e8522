"""What the JSON API tests share: issuing a token, asking for a task by SMS, and reading the answers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import OutboundMessage, StaffRole, Task
from dispatch.tokens import create_token
from hotline.services import Services
from tests.conftest import post_signed, run_worker, sms_params

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
