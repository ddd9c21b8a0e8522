"""A hotline whose channels place no calls (HOTLINE_CALL_GATEWAY=none, or an SMS-only gateway): it says so at
start, and does the next best thing. The check-in ladder's visit comes at the call's time, a resident reached
only by calls gets a visit at the check-in's time, and what a call would have said to a resident goes by SMS."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import outbox
from dispatch.channels import CHANNELS, INSTEAD, Ability, shortfalls
from dispatch.models import Resident, StaffRole, Task, TaskCategory, TaskPriority, utcnow
from dispatch.outbox import queue_sms
from hotline.cli.service import shortfall_lines
from hotline.console.render import CONSOLE_TEXTS
from hotline.exceptions import SettingsError
from hotline.services import Services
from hotline.settings import load_settings
from tests.checkin_helpers import checkin_of, tick
from tests.conftest import LIAISON_PHONE, PHONES, Clock, local_outbox, make_environ, post_signed, run_worker, sms_params
from tests.console_helpers import make_user, sign_in


@pytest.fixture
def no_calls(services: Services) -> Services:
    services.intake = dataclasses.replace(services.intake, calls=CHANNELS["none"])
    return services


def visits(services: Services) -> dict[int | None, Task]:
    with services.readonly() as session:
        found = session.scalars(select(Task).where(Task.category == TaskCategory.VISIT))
        return {task.resident_id: task for task in found}


def test_with_no_calls_the_visit_comes_at_the_calls_time_and_nothing_is_called(
    no_calls: Services, clock: Clock, town: dict[str, int]
) -> None:
    services = no_calls
    tick(services, clock, "08:00")
    counts = tick(services, clock, "09:00")
    # 孙爷爷 has a landline: reached by calls alone, so his visit comes now, at the check-in call's time.
    assert (counts["sent"], counts["called"], counts["visit_now"]) == (7, 0, 1)
    landline = visits(services)[town["孙爷爷"]]
    assert landline.priority == TaskPriority.URGENT
    assert checkin_of(services, town["孙爷爷"]).visit_task_id == landline.id
    assert any(str(landline.id) in e.body for e in local_outbox(services) if e.to_phone == LIAISON_PHONE)

    # Nobody answers. At 11:00, the end of the window: the reminders, and where the call would be, the visits.
    tick(services, clock, "10:59")
    assert set(visits(services)) == {town["孙爷爷"]}
    tick(services, clock, "11:00")
    silent = [name for name in PHONES if name not in ("周阿姨", "孙爷爷")]
    made = visits(services)
    for name in silent:
        assert checkin_of(services, town[name]).visit_task_id == made[town[name]].id
    assert [e for e in local_outbox(services) if e.kind == "call"] == []


def test_what_a_call_would_say_to_a_resident_goes_as_an_sms(
    client: TestClient, no_calls: Services, clock: Clock, town: dict[str, int]
) -> None:
    services = no_calls
    with services.sessions.begin() as session:
        resident = session.get(Resident, town["王大爷"])
        assert resident is not None
        resident.channel = "voice"  # hears better than they read: feedback comes by call
    need = sms_params("买药", from_phone=PHONES["王大爷"])
    assert post_signed(client, services, "/twilio/sms", need).status_code == 200
    run_worker(services)
    [task] = _tasks(services)
    post_signed(client, services, "/twilio/sms", sms_params(f"接{task.id}", from_phone=LIAISON_PHONE))
    run_worker(services)
    to_resident = [e for e in local_outbox(services) if e.to_phone == PHONES["王大爷"]]
    assert [e.kind for e in to_resident] == ["sms"]
    assert "张敏" in to_resident[0].body


def _tasks(services: Services) -> list[Task]:
    with services.readonly() as session:
        return list(session.scalars(select(Task)))


def test_the_call_gateway_defaults_to_the_gateway_and_can_be_none(tmp_path: Path) -> None:
    environ = make_environ(tmp_path / "var", "redis://127.0.0.1:1")
    assert load_settings(environ, env_file=None).call_gateway == "local"
    assert load_settings({**environ, "HOTLINE_CALL_GATEWAY": "none"}, env_file=None).call_gateway == "none"
    with pytest.raises(SettingsError, match="HOTLINE_CALL_GATEWAY") as caught:
        load_settings({**environ, "HOTLINE_CALL_GATEWAY": "twilio"}, env_file=None)
    assert "'none', 'tencent' or one of the gateways, local" in str(caught.value)


def test_each_channel_says_what_it_cannot_do_and_what_happens_instead() -> None:
    assert shortfalls(CHANNELS["twilio"], CHANNELS["twilio"]) == []
    assert shortfalls(CHANNELS["local"], CHANNELS["local"]) == []
    lost = {s.ability for s in shortfalls(CHANNELS["tencent"], CHANNELS["none"])}
    assert lost == {Ability.CHECKIN_CALLS, Ability.SPOKEN_CALLS, Ability.VOICE_MENU, Ability.FREE_TEXT}
    lost = {s.ability for s in shortfalls(CHANNELS["android"], CHANNELS["none"])}
    assert lost == {Ability.CHECKIN_CALLS, Ability.SPOKEN_CALLS, Ability.VOICE_MENU}
    assert all(CHANNELS[name].can(Ability.TWO_WAY_SMS) for name in ("local", "twilio", "tencent", "android"))


def test_the_channels_page_says_what_cannot_be_done_and_how_the_channels_are_doing(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    clock.now = utcnow()  # rows are stamped with the real time: today is today
    make_user(services, "clerk", StaffRole.CLERK, community="幸福里社区")
    sign_in(client, "clerk")
    page = client.get("/channels")
    assert page.status_code == 200
    assert 'id="shortfalls-none"' in page.text and 'id="last-inbound">还没有<' in page.text

    services.settings = dataclasses.replace(services.settings, call_gateway="none")
    assert post_signed(client, services, "/twilio/sms", sms_params("1", from_phone=PHONES["梁阿姨"])).status_code == 200
    with services.sessions.begin() as session:
        waiting = queue_sms(session, dedupe_key="page:waiting", to_phone=PHONES["赵姐"], body="稍后")
        failed = queue_sms(session, dedupe_key="page:failed", to_phone=PHONES["吴叔"], body="失败")
        assert waiting is not None and failed is not None
        session.flush()
        assert outbox.claim_for_sending(session, failed.id) is not None  # a worker took it, and Twilio refused it
        outbox.mark_failed(session, failed.id, "twilio 400 code 21211", 21211)
    page = client.get("/channels")
    shown = page.text
    assert 'id="call-gateway">无<' in shown
    for ability in (Ability.CHECKIN_CALLS, Ability.SPOKEN_CALLS, Ability.VOICE_MENU):
        assert CONSOLE_TEXTS.render(INSTEAD[ability], "zh-CN") in shown
    assert CONSOLE_TEXTS.render(INSTEAD[Ability.FREE_TEXT], "zh-CN") not in shown
    assert 'id="last-inbound">还没有<' not in shown and 'id="last-report">' in shown
    assert 'id="failed-today">1<' in shown
    assert re.search(r'id="waiting">1 条，最早的从 \d{4}-\d\d-\d\d \d\d:\d\d 开始等<', shown)


def test_a_start_says_what_the_channels_cannot_do(tmp_path: Path) -> None:
    environ = make_environ(tmp_path / "var", "redis://127.0.0.1:1")
    assert shortfall_lines(load_settings(environ, env_file=None)) == []
    lines = shortfall_lines(load_settings({**environ, "HOTLINE_CALL_GATEWAY": "none"}, env_file=None))
    assert len(lines) == 3 and any("上门查看" in line for line in lines)
