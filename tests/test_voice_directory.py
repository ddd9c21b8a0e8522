"""The voice hotline's directory: read out on the call, sent by SMS to a mobile (never to a landline), within the
hourly answers to one number. Real webhooks, signed like Twilio; a real worker; the local gateway."""

from __future__ import annotations

import dataclasses

import pytest
from starlette.testclient import TestClient

from dispatch import register
from hotline.services import Services
from tests.callflow import CallFlow
from tests.conftest import LIAISON_PHONE, RESIDENT_PHONE, run_worker, sent_to, tasks
from tests.voice_helpers import SERVICE_DUTY, add_directory


@pytest.fixture
def environ(environ: dict[str, str]) -> dict[str, str]:
    return {**environ, "HOTLINE_DUTY_PHONE": SERVICE_DUTY}


@pytest.mark.usefixtures("community")
def test_directory_is_read_out_and_sent_by_sms(client: TestClient, services: Services) -> None:
    add_directory(services)
    flow = CallFlow(client, services, RESIDENT_PHONE).call().press("6")
    assert "市第一医院，电话0 3 7 1 6 6 6 6 1 2 3 4" in flow.last_said and "仁和药店" in flow.last_said
    assert "发短信给您请按1" in flow.last_said
    flow.press("1")
    assert "已经用短信发给您了" in " ".join(flow.said)
    flow.hang_up()
    run_worker(services)
    [sms] = sent_to(services, RESIDENT_PHONE)
    assert "市第一医院 0371 6666 1234" in sms and "仁和药店" in sms
    assert tasks(services) == []  # they chose something: no call-back


@pytest.mark.usefixtures("community")
def test_a_landline_is_not_offered_the_directory_by_sms(client: TestClient, services: Services) -> None:
    add_directory(services)
    with services.sessions.begin() as session:
        register.add_resident(
            session,
            name="周大爷",
            phones=["0371-66001122"],
            liaison_phone=LIAISON_PHONE,
            address=register.Address("幸福里社区", "3号楼", "2单元", "403"),
            region="CN",
        )
    flow = CallFlow(client, services, "+8637166001122").call().press("6")
    assert "市第一医院" in flow.last_said and "发短信" not in flow.last_said
    flow.press("1")
    assert "没有这个选项" in " ".join(flow.said[-2:])
    flow.hang_up()
    run_worker(services)
    assert sent_to(services, "+8637166001122") == []


@pytest.mark.usefixtures("community")
def test_directory_sms_stays_within_the_hourly_answers_to_one_number(client: TestClient, services: Services) -> None:
    add_directory(services)
    services.intake = dataclasses.replace(services.intake, auto_replies_per_number_per_hour=1)
    for _ in range(2):
        CallFlow(client, services, RESIDENT_PHONE).call().press("6").press("1").hang_up()
    run_worker(services)
    assert len(sent_to(services, RESIDENT_PHONE)) == 1
