"""The voice hotline, call by call: real webhooks, signed like Twilio; a real worker; the local gateway."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import Call, InboundMessage, TaskCategory, TaskPriority, TaskStatus
from hotline.services import Services
from tests.callflow import CallFlow
from tests.conftest import (
    BACKUP_PHONE,
    DUTY_PHONE,
    LIAISON_PHONE,
    RESIDENT_PHONE,
    STRANGER_PHONE,
    post_signed,
    run_worker,
    sent_to,
    tasks,
)
from tests.voice_helpers import SERVICE_DUTY, add_directory, the_call


@pytest.fixture
def environ(environ: dict[str, str]) -> dict[str, str]:
    return {**environ, "HOTLINE_DUTY_PHONE": SERVICE_DUTY}


@pytest.mark.usefixtures("community")
def test_resident_asks_for_groceries_and_hears_who_will_call(client: TestClient, services: Services) -> None:
    flow = CallFlow(client, services, RESIDENT_PHONE).call()
    assert "梁阿姨您好" in flow.said[0] and "您的联络员是张敏" in flow.said[0]
    assert "买菜请按2" in flow.said[0] and "找人按0" in flow.said[0] and "重听按9" in flow.said[0]

    flow.press("2")
    assert "买菜买粮，已经记下了" in " ".join(flow.said)
    assert "您的联络员张敏会尽快给您回电话" in flow.last_said and "再见" in flow.last_said
    assert flow.ended
    assert flow.hang_up() == 204

    run_worker(services)
    [task] = tasks(services)
    assert (task.category, task.status, task.priority) == (TaskCategory.GROCERIES, TaskStatus.OFFERED, "normal")
    [offer] = sent_to(services, LIAISON_PHONE)
    assert f"#{task.id}" in offer and "梁阿姨" in offer and "来电按键2" in offer
    assert sent_to(services, RESIDENT_PHONE) == []  # they heard it on the phone: no SMS receipt
    call = the_call(services, flow)
    assert (call.caller_kind, call.chose, call.task_made, call.status) == ("resident", True, True, "completed")


@pytest.mark.usefixtures("community")
def test_two_rounds_of_silence_put_the_caller_through_to_their_liaison(client: TestClient, services: Services) -> None:
    flow = CallFlow(client, services, RESIDENT_PHONE).call().silence()
    assert "没有听到您按键" in flow.said[-2] and flow.waiting is not None and flow.waiting.tag == "Gather"
    assert "梁阿姨您好" not in flow.last_said  # the menu again, without the greeting
    flow.silence()
    assert "正在为您转接联络员张敏" in flow.last_said
    assert flow.dialled == [LIAISON_PHONE] and flow.waiting is not None and flow.waiting.tag == "Dial"
    flow.answer()
    assert flow.ended
    flow.hang_up()
    run_worker(services)
    assert tasks(services) == []  # they reached a person: nothing to call back
    assert the_call(services, flow).connected


@pytest.mark.usefixtures("community")
def test_wrong_keys_twice_also_reach_a_person(client: TestClient, services: Services) -> None:
    flow = CallFlow(client, services, RESIDENT_PHONE).call().press("7")
    assert "没有这个选项" in " ".join(flow.said)
    flow.press("7")
    assert flow.dialled == [LIAISON_PHONE]


@pytest.mark.usefixtures("community")
def test_nobody_answers_the_whole_chain_then_a_voicemail_becomes_an_urgent_callback(
    client: TestClient, services: Services
) -> None:
    flow = CallFlow(client, services, RESIDENT_PHONE).call().press("0")
    flow.no_answer()
    assert "备用联络员李强" in flow.last_said
    flow.no_answer("busy")
    assert "社区值班人员" in flow.last_said
    flow.no_answer("failed")
    assert flow.dialled == [LIAISON_PHONE, BACKUP_PHONE, DUTY_PHONE]
    assert "嘀声后" in flow.last_said and flow.waiting is not None and flow.waiting.tag == "Record"
    assert flow.waiting.attrib["maxLength"] == "120"
    flow.leave_message(seconds=25)
    assert "留言收到了" in " ".join(flow.said[-2:]) and "张敏会尽快给您回电话" in flow.last_said
    flow.hang_up()

    run_worker(services)
    [task] = tasks(services)
    assert (task.category, task.priority) == (TaskCategory.CALLBACK, TaskPriority.URGENT)
    with services.sessions() as session:
        message = session.get(InboundMessage, task.source_message_id)
        assert message is not None and message.channel == "voice"
        assert message.recording_url is not None and "/Recordings/RE" in message.recording_url
        assert "电话留言25秒" in message.body
    assert any(f"#{task.id}" in body for body in sent_to(services, LIAISON_PHONE))
    assert any(f"#{task.id}" in body for body in sent_to(services, DUTY_PHONE))  # urgent: duty staff told at once
    call = the_call(services, flow)
    assert (call.dial_attempts, call.connected, call.voicemail) == (3, False, True)


@pytest.mark.usefixtures("community")
def test_no_message_after_nobody_answers_still_gets_a_callback(client: TestClient, services: Services) -> None:
    flow = CallFlow(client, services, RESIDENT_PHONE).call().press("0").no_answer().no_answer().no_answer()
    flow.say_nothing_after_beep()
    assert "没有录到留言" in flow.last_said and "工作人员会尽快给您回电话" in flow.last_said and flow.ended
    flow.hang_up()
    run_worker(services)
    [task] = tasks(services)
    assert task.category == TaskCategory.CALLBACK


@pytest.mark.usefixtures("community")
def test_hanging_up_before_choosing_becomes_a_callback_task_once(client: TestClient, services: Services) -> None:
    flow = CallFlow(client, services, RESIDENT_PHONE).call().press("9")  # repeat is not a choice
    assert "梁阿姨您好" not in flow.last_said and "买菜请按2" in flow.last_said
    assert flow.hang_up(seconds=8) == 204
    flow.hang_up(seconds=8)  # Twilio retried the status callback
    run_worker(services)
    [task] = tasks(services)
    assert (task.category, task.priority, task.status) == (TaskCategory.CALLBACK, "normal", TaskStatus.OFFERED)
    assert "没有选择就挂断" in task.description
    assert the_call(services, flow).duration_seconds == 8


@pytest.mark.usefixtures("community")
def test_asking_for_a_person_after_the_directory_and_reaching_nobody_is_called_back(
    client: TestClient, services: Services
) -> None:
    add_directory(services)
    flow = CallFlow(client, services, RESIDENT_PHONE).call().press("6").press("0")
    flow.no_answer().no_answer().no_answer().say_nothing_after_beep()
    flow.hang_up()
    run_worker(services)
    assert [t.category for t in tasks(services)] == [TaskCategory.CALLBACK]


@pytest.mark.usefixtures("community")
def test_hearing_the_directory_and_hanging_up_needs_no_callback(client: TestClient, services: Services) -> None:
    add_directory(services)
    CallFlow(client, services, RESIDENT_PHONE).call().press("6").hang_up()
    run_worker(services)
    assert tasks(services) == []


@pytest.mark.usefixtures("community")
def test_a_voicemail_reported_after_the_hang_up_still_makes_the_callback_urgent(
    client: TestClient, services: Services
) -> None:
    flow = CallFlow(client, services, RESIDENT_PHONE).call().press("0").no_answer().no_answer().no_answer()
    record = flow.waiting
    flow.hang_up()  # Twilio's status report beats the recording's
    run_worker(services)
    [missed] = tasks(services)
    assert missed.priority == TaskPriority.NORMAL and not sent_to(services, DUTY_PHONE)[1:]
    flow.ended, flow.waiting = False, record
    flow.leave_message()
    run_worker(services)
    [task] = tasks(services)
    assert task.priority == TaskPriority.URGENT
    assert any("急！" in body and f"#{task.id}" in body for body in sent_to(services, DUTY_PHONE))


@pytest.mark.usefixtures("community")
def test_a_call_that_never_reached_our_menu_is_still_called_back(client: TestClient, services: Services) -> None:
    flow = CallFlow(client, services, RESIDENT_PHONE)  # the first webhook never came (the caller gave up)
    flow.hang_up(status="canceled", seconds=0)
    run_worker(services)
    assert [t.category for t in tasks(services)] == [TaskCategory.CALLBACK]


@pytest.mark.usefixtures("community")
def test_unwell_says_120_offers_a_person_and_makes_an_urgent_task(client: TestClient, services: Services) -> None:
    flow = CallFlow(client, services, RESIDENT_PHONE).call().press("4")
    assert "拨打120" in flow.last_said and "现在转接联络员请按1" in flow.last_said
    flow.press("1")
    assert flow.dialled == [LIAISON_PHONE]
    flow.answer().hang_up()
    run_worker(services)
    [task] = tasks(services)
    assert (task.category, task.priority) == (TaskCategory.UNWELL, TaskPriority.URGENT)
    assert sent_to(services, DUTY_PHONE)  # urgent: the duty phone hears at once


@pytest.mark.usefixtures("community")
def test_saying_unwell_works_like_the_key(client: TestClient, services: Services) -> None:
    flow = CallFlow(client, services, RESIDENT_PHONE).call()
    assert flow.waiting is not None and "speech" in flow.waiting.attrib["input"]
    flow.speak("我身体不舒服")
    assert "拨打120" in flow.last_said
    flow.press("2")  # no need to put through
    assert "张敏会尽快给您回电话" in flow.last_said and flow.ended
    run_worker(services)
    [task] = tasks(services)
    assert task.priority == TaskPriority.URGENT and "来电说：我身体不舒服" in task.description


@pytest.mark.usefixtures("community")
def test_silence_after_unwell_puts_through_at_once(client: TestClient, services: Services) -> None:
    flow = CallFlow(client, services, RESIDENT_PHONE).call().press("4").silence()
    assert flow.dialled == [LIAISON_PHONE]


def test_english_speaking_resident_hears_english_in_the_english_voice(client: TestClient, services: Services) -> None:
    with services.sessions.begin() as session:
        register.add_liaison(session, name="Zhang Min", phone=LIAISON_PHONE, region="CN")
        register.add_resident(
            session, name="Mary", phones=[RESIDENT_PHONE], liaison_phone=LIAISON_PHONE, region="CN", language="en"
        )
    response = post_signed(client, services, "/twilio/voice", {"CallSid": "CA" + "e" * 32, "From": RESIDENT_PHONE})
    assert 'language="en-US"' in response.text and 'voice="Polly.Joanna-Neural"' in response.text
    assert "Hello Mary" in response.text and "Your liaison is Zhang Min" in response.text


@pytest.mark.usefixtures("community")
def test_the_same_webhook_twice_makes_one_call_and_one_task(client: TestClient, services: Services) -> None:
    flow = CallFlow(client, services, RESIDENT_PHONE).call()
    flow.press("3")
    flow.resend()
    flow.call()  # and the first webhook again
    run_worker(services)
    assert [t.category for t in tasks(services)] == [TaskCategory.MEDICINE]
    with services.sessions() as session:
        assert len(session.scalars(select(Call)).all()) == 1


def test_unsigned_or_tampered_voice_requests_are_refused(client: TestClient, services: Services) -> None:
    params = {"CallSid": "CA" + "a" * 32, "From": RESIDENT_PHONE, "Digits": "2"}
    assert client.post("/twilio/voice", data=params).status_code == 403
    signature = services.signature.sign("/twilio/voice/menu", params, "n=resident_menu&r=0&t=0&k=0")
    tampered = client.post(
        "/twilio/voice/menu?n=resident_menu&r=0&t=1&k=0", data=params, headers={"X-Twilio-Signature": signature}
    )
    assert tampered.status_code == 403


@pytest.mark.usefixtures("community")
def test_when_our_code_fails_the_caller_hears_an_apology_and_reaches_the_duty_phone(
    client: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the register is unreadable")

    monkeypatch.setattr("hotline.webhooks.voice_hotline.steps.identify_caller", broken)
    for flow in (CallFlow(client, services, RESIDENT_PHONE).call(), CallFlow(client, services, STRANGER_PHONE)):
        if not flow.said:
            flow.call()
        assert "对不起，系统出了点问题" in flow.said[0]
        assert flow.dialled == [SERVICE_DUTY]
        flow.no_answer().say_nothing_after_beep()
        assert "紧急情况请拨打120" in flow.last_said and flow.ended


@pytest.mark.usefixtures("community")
def test_a_failure_mid_call_without_a_service_duty_phone_still_reaches_a_person(
    client: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "settings", dataclasses.replace(services.settings, duty_phone=None))
    flow = CallFlow(client, services, RESIDENT_PHONE).call()  # the register was readable: duty phone known

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in a step")

    monkeypatch.setattr("hotline.webhooks.voice_hotline.steps.plan_menu", broken)
    flow.press("2")
    assert "对不起，系统出了点问题" in flow.last_said and flow.dialled == [DUTY_PHONE]
    flow.no_answer()
    assert "嘀声后" in flow.last_said and flow.waiting is not None and flow.waiting.tag == "Record"
    monkeypatch.undo()
    flow.leave_message()
    run_worker(services)
    [task] = tasks(services)
    assert (task.category, task.priority) == (TaskCategory.CALLBACK, TaskPriority.URGENT)


def test_a_missing_call_sid_is_a_clear_error(client: TestClient, services: Services) -> None:
    response = post_signed(client, services, "/twilio/voice", {"From": RESIDENT_PHONE})
    assert response.status_code == 400 and "CallSid" in response.text
