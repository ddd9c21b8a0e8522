"""What the triage tests share: a text from a number, the items and audit entries it made, and a staff member to act."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from starlette.testclient import TestClient

from dispatch.models import AuditEntry, OutboundMessage, StaffRole, StaffUser, Task, TriageItem
from dispatch.triage import actions
from hotline.services import Services
from tests.conftest import STRANGER_PHONE, post_signed, run_worker, sms_params
from tests.console_helpers import make_user

HOME = "幸福里社区"  # the `community` fixture's, with DUTY_PHONE


def text(client: TestClient, services: Services, body: str, phone: str = STRANGER_PHONE, to: str | None = None) -> None:
    params = sms_params(body, from_phone=phone)
    if to is not None:
        params["To"] = to
    assert post_signed(client, services, "/twilio/sms", params).status_code == 200
    run_worker(services)


def items(services: Services) -> list[TriageItem]:
    with services.sessions() as session:
        return list(session.scalars(select(TriageItem).order_by(TriageItem.id)))


def staff(services: Services, username: str = "admin", role: StaffRole = StaffRole.ADMIN, **scope: str) -> StaffUser:
    make_user(services, username, role, **scope)
    with services.sessions() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == username))
        assert user is not None
        session.expunge(user)
        return user


def act(services: Services, do: Callable[[Any], actions.Handled]) -> actions.Handled:
    with services.sessions.begin() as session:
        return do(session)


def audit_log(services: Services) -> list[tuple[str, str, str]]:
    with services.sessions() as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.object_kind, AuditEntry.detail).order_by(AuditEntry.id)
        )
        return [tuple(row) for row in rows]


def counts(services: Services) -> tuple[int, int, int]:
    with services.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Task)) or 0,
            session.scalar(select(func.count()).select_from(OutboundMessage)) or 0,
            session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
        )
