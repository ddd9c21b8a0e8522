"""Callers to the voice hotline who are not residents: an unknown caller gets the general menu and reaches a duty
phone, a liaison hears the waiting tasks and takes the oldest. Real webhooks, signed like Twilio; a real worker; the
local gateway."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from dispatch.models import TaskCategory, TaskStatus
from hotline.services import Services
from tests.callflow import CallFlow
from tests.conftest import (
    DUTY_PHONE,
    LIAISON_PHONE,
    RESIDENT_PHONE,
    STRANGER_PHONE,
    post_signed,
    run_worker,
    sent_to,
    sms_params,
    tasks,
)
from tests.voice_helpers import SERVICE_DUTY


@pytest.fixture
def environ(environ: dict[str, str]) -> dict[str, str]:
    return {**environ, "HOTLINE_DUTY_PHONE": SERVICE_DUTY}


@pytest.mark.usefixtures("community")
def test_unknown_caller_gets_the_general_menu_and_reaches_the_duty_phone(
    client: TestClient, services: Services
) -> None:
    flow = CallFlow(client, services, STRANGER_PHONE).call()
    assert flow.said[0].startswith("您好，这里是社区热线") and "找社区工作人员请按0" in flow.said[0]
    flow.press("0")
    assert flow.dialled == [DUTY_PHONE]  # the only community's duty phone
    flow.no_answer()
    flow.leave_message()
    flow.hang_up()
    run_worker(services)
    [task] = tasks(services)
    assert task.household_id is None and task.category == TaskCategory.CALLBACK
    assert any(f"#{task.id}" in body for body in sent_to(services, DUTY_PHONE))
    assert sent_to(services, STRANGER_PHONE) == []  # no SMS to a number we do not know


def test_unknown_caller_with_no_community_reaches_the_service_duty_phone(
    client: TestClient, services: Services
) -> None:
    flow = CallFlow(client, services, STRANGER_PHONE).call().press("0")
    assert flow.dialled == [SERVICE_DUTY]


def test_unknown_caller_who_just_hangs_up_makes_no_task(client: TestClient, services: Services) -> None:
    CallFlow(client, services, STRANGER_PHONE).call().hang_up()
    run_worker(services)
    assert tasks(services) == []


@pytest.mark.usefixtures("community")
def test_liaison_hears_waiting_tasks_and_takes_the_oldest(client: TestClient, services: Services) -> None:
    post_signed(client, services, "/twilio/sms", sms_params("想买点菜"))
    post_signed(client, services, "/twilio/sms", sms_params("帮我取药"))
    run_worker(services)
    first, second = tasks(services)

    flow = CallFlow(client, services, LIAISON_PHONE).call()
    assert "张敏您好，您有2件待办" in flow.said[0]
    flow.press("1")
    assert "第1件，梁阿姨，买菜，3号楼 2单元 402" in flow.last_said and "第2件，梁阿姨，买药" in flow.last_said
    flow.press("2")
    assert "已为您接下：梁阿姨，买菜" in " ".join(flow.said[-2:])
    assert "您有1件待办" in flow.last_said
    flow.hang_up()
    run_worker(services)

    by_id = {t.id: t for t in tasks(services)}
    assert by_id[first.id].status == TaskStatus.ACCEPTED and by_id[second.id].status == TaskStatus.OFFERED
    assert any(f"#{first.id}" in body and "3号楼" in body for body in sent_to(services, LIAISON_PHONE))
    assert any("张敏" in body for body in sent_to(services, RESIDENT_PHONE))  # the resident hears it was taken


@pytest.mark.usefixtures("community")
def test_a_retried_accept_takes_nothing_more(client: TestClient, services: Services) -> None:
    post_signed(client, services, "/twilio/sms", sms_params("想买点菜"))
    post_signed(client, services, "/twilio/sms", sms_params("帮我取药"))
    run_worker(services)
    flow = CallFlow(client, services, LIAISON_PHONE).call()
    flow.press("2")
    flow.resend()  # Twilio sends the same request again
    assert "已为您接下：梁阿姨，买菜" in " ".join(flow.said[-2:])
    statuses = sorted(t.status for t in tasks(services))
    assert statuses == [TaskStatus.ACCEPTED, TaskStatus.OFFERED]


def test_liaison_with_nothing_waiting_is_told_so(client: TestClient, services: Services, registered: dict) -> None:  # type: ignore[type-arg]
    flow = CallFlow(client, services, LIAISON_PHONE).call()
    assert "您有0件待办" in flow.said[0]
    flow.press("2")
    assert "现在没有等您接的事" in " ".join(flow.said[-2:])
    flow.press("0")
    assert flow.dialled == [SERVICE_DUTY]
