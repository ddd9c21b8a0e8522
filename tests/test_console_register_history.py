"""The register in the console: one resident's last 14 days, what happened then and nothing from before."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import (
    Call,
    Checkin,
    CheckinStatus,
    InboundMessage,
    OutboundMessage,
    Resident,
    Task,
    TaskCategory,
    TaskStatus,
    TemperatureReading,
)
from dispatch.staff_accounts import household_scope
from hotline.services import Services
from tests.conftest import Clock
from tests.console_register_helpers import ADMIN, as_user, make_people


@pytest.fixture
def people(services: Services) -> dict[str, int]:
    return make_people(services)


def test_the_last_14_days_show_what_happened_then_and_not_before(
    client: TestClient, services: Services, people: dict[str, int], clock: Clock
) -> None:
    liang, now = people["梁阿姨"], clock.now
    with services.sessions.begin() as session:
        household_id = session.get(Resident, liang).household_id  # type: ignore[union-attr]
        for label, age, celsius, category in (
            ("new", timedelta(days=2), 38.6, TaskCategory.MEDICINE),
            ("old", timedelta(days=20), 36.4, TaskCategory.GROCERIES),
        ):
            at = now - age
            checkin = Checkin(
                resident_id=liang,
                household_id=household_id,
                local_date=at.date(),
                slot="09:00",
                channel="voice",
                due_at=at,
                status=CheckinStatus.FINE,
                answered_at=at,
            )
            message = InboundMessage(
                provider_sid=f"SM{label}",
                from_phone="+8613800138000",
                to_phone="+8657112345678",
                body="36",
                received_at=at,
                resident_id=liang,
            )
            session.add_all([checkin, message])
            session.flush()
            session.add_all(
                [
                    TemperatureReading(
                        resident_id=liang, household_id=household_id, message_id=message.id, celsius=celsius, at=at
                    ),
                    Task(
                        household_id=household_id,
                        resident_id=liang,
                        category=category,
                        status=TaskStatus.DONE,
                        created_at=at,
                    ),
                    Call(
                        call_sid=f"CA{label}",
                        from_phone="+8613800138000",
                        to_phone="+8657112345678",
                        caller_kind="resident",
                        resident_id=liang,
                        household_id=household_id,
                        started_at=at,
                        status="completed",
                        duration_seconds=42 if label == "new" else 7,
                    ),
                    OutboundMessage(
                        dedupe_key=f"checkin:{checkin.id}:call:0",
                        to_phone="+8613800138000",
                        body="",
                        kind="checkin",
                        checkin_id=checkin.id,
                        status="sent",
                        call_result="busy",
                        created_at=at,
                        sent_at=at,
                    ),
                ]
            )
        task_ids = {category: id_ for category, id_ in session.execute(select(Task.category, Task.id))}
    with services.readonly() as session:
        history = register.resident_history(session, liang, household_scope(ADMIN), now)
    assert [c.due_at for c in history.checkins] == [now - timedelta(days=2)]
    assert [r.celsius for r in history.readings] == [38.6]
    assert [t.id for t in history.tasks] == [task_ids[TaskCategory.MEDICINE]]
    assert sorted((c.kind, c.outcome) for c in history.calls) == [("checkin", "busy"), ("hotline", "completed")]

    as_user(client, "leader1")
    page = client.get(f"/register/residents/{liang}").text
    assert "38.6°C" in page and "36.4°C" not in page
    assert f'href="/tasks/{task_ids[TaskCategory.MEDICINE]}"' in page
    assert f'href="/tasks/{task_ids[TaskCategory.GROCERIES]}"' not in page
    assert "42秒" in page and "7秒" not in page and "占线" in page and "问候电话" in page
    day = (now - timedelta(days=2)).astimezone(services.settings.timezone).strftime("%m-%d")
    old_day = (now - timedelta(days=20)).astimezone(services.settings.timezone).strftime("%m-%d")
    assert day in page and old_day not in page
