"""A resident's profile for hearing and memory on a Tencent Cloud voice check-in call: the template cannot be said
slower, louder or shorter, but the SMS copy of what a key recorded goes, once however often the key is reported."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from dispatch.models import VoiceProfile
from hotline.services import Services
from tests.checkin_helpers import tick
from tests.conftest import Clock, at, run_worker, sent_to
from tests.standins.tencent import TencentStandIn
from tests.vms_helpers import (
    CALLBACK_SECRET,
    OK,
    QIAN,
    QIAN_PHONE,
    SECRET_ID,
    SECRET_KEY,
    call_ids,
    calls_through_vms,
    key,
    town_with_qian,
)


@pytest.fixture
def environ(environ: dict[str, str]) -> dict[str, str]:
    return {**environ, "TENCENT_CALLBACK_SECRET": CALLBACK_SECRET}


@pytest.fixture
def vms(services: Services) -> Iterator[TencentStandIn]:
    with TencentStandIn(SECRET_ID, SECRET_KEY) as running:
        calls_through_vms(services, running.endpoint)
        yield running


@pytest.mark.usefixtures("vms")
def test_a_key_on_a_template_call_sends_the_sms_copy_once(client: TestClient, services: Services, clock: Clock) -> None:
    town = town_with_qian(services)
    with services.sessions.begin() as session:
        session.add(VoiceProfile(resident_id=town[QIAN], sms_copy=True, slower=True))
    tick(services, clock, "09:00")
    [call_id] = call_ids(services)
    clock.now = at("09:01")
    assert key(client, call_id, "2").json() == OK
    assert key(client, call_id, "2").json() == OK  # Tencent delivered it again
    run_worker(services)
    copies = [body for body in sent_to(services, QIAN_PHONE) if "电话里说" in body]
    assert len(copies) == 1 and "买菜买粮，已经记下了" in copies[0]
