"""Tencent Cloud voice messages (HOTLINE_CALL_GATEWAY=tencent): the daily check-in call as an approved template read
aloud, placed by the real tencentcloud SDK against a local stand-in that checks its TC3 signature; the keys and
the call's end come back by callback and drive the same answers, retries and ladder as a Twilio check-in call.

Real parts: SQLite (or PostgreSQL), redis-server, RQ workers, the webhooks through Starlette's TestClient.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from dispatch.models import (
    CheckinStatus,
    InboundMessage,
    OutboundMessage,
    OutboundStatus,
    TaskCategory,
    TaskPriority,
    TaskStatus,
)
from dispatch.voice_templates import CheckinVoiceTemplate
from hotline.jobs.sends import deliver_sms
from hotline.services import Services
from tests.checkin_helpers import answer_call, calls_to, checkin_of, tick
from tests.conftest import LIAISON_PHONE, PHONES, Clock, at, run_worker, sent_to, tasks
from tests.standins.tencent import TencentStandIn
from tests.vms_helpers import (
    CALLBACK_SECRET,
    OK,
    QIAN,
    QIAN_PHONE,
    SECRET_ID,
    SECRET_KEY,
    VOICE_APP_ID,
    call_events,
    call_ids,
    calls_through_vms,
    ended,
    failed,
    key,
    post_callback,
    stored_rows,
    town_with_qian,
    voice_gateway,
)
from workers.exceptions import GatewayAmbiguousError, GatewayError, GatewayRejectedError, GatewayTemporaryError


@pytest.fixture
def environ(environ: dict[str, str]) -> dict[str, str]:
    return {**environ, "TENCENT_CALLBACK_SECRET": CALLBACK_SECRET}


@pytest.fixture
def standin() -> Iterator[TencentStandIn]:
    with TencentStandIn(SECRET_ID, SECRET_KEY) as running:
        yield running


@pytest.fixture
def vms(services: Services, standin: TencentStandIn) -> TencentStandIn:
    calls_through_vms(services, standin.endpoint)
    return standin


@pytest.fixture
def town(services: Services) -> dict[str, int]:
    return town_with_qian(services)


def test_the_sdk_signs_each_call_and_the_standin_refuses_a_wrong_key(standin: TencentStandIn) -> None:
    with pytest.raises(GatewayRejectedError, match=r"AuthFailure\.SignatureFailure"):
        voice_gateway(standin.endpoint, key="Wrong9" * 6).place_checkin_call(QIAN_PHONE, name=QIAN, outbound_id=7)
    assert standin.calls == [] and standin.refused == ["AuthFailure.SignatureFailure"]

    call_id = voice_gateway(standin.endpoint).place_checkin_call(QIAN_PHONE, name=QIAN, outbound_id=7)
    [placed] = standin.calls
    assert placed.body == {
        "TemplateId": CheckinVoiceTemplate.load().id,
        "CalledNumber": QIAN_PHONE,
        "VoiceSdkAppid": VOICE_APP_ID,
        "TemplateParamSet": [QIAN],
        "PlayTimes": 2,
        "SessionContext": "7",
    }
    assert placed.headers["x-tc-action"] == "SendTtsVoice" and placed.headers["x-tc-version"] == "2020-09-02"
    assert "/vms/tc3_request" in placed.headers["authorization"]
    assert len(call_id) >= 32


@pytest.mark.parametrize(
    ("answer", "error", "words"),
    [
        (("http", 503), GatewayTemporaryError, "HTTP error"),
        (("error", "RequestLimitExceeded"), GatewayTemporaryError, "RequestLimitExceeded"),
        (("error", "InternalError.UpstreamError"), GatewayTemporaryError, "UpstreamError"),
        (("error", "FailedOperation.InsufficientBalanceInVoicePackage"), GatewayRejectedError, "InsufficientBalance"),
        (("error", "UnauthorizedOperation.ServiceSuspendDueToArrears"), GatewayRejectedError, "Arrears"),
        (("error", "FailedOperation.TemplateIncorrectOrUnapproved"), GatewayRejectedError, "TemplateIncorrect"),
        (("error", "LimitExceeded.DeliveryFrequencyLimit"), GatewayRejectedError, "DeliveryFrequencyLimit"),
        (("error", "InternalError.AccessUpstreamTimeout"), GatewayAmbiguousError, "may have been placed"),
    ],
)
def test_each_answer_maps_to_what_the_outbox_does_next(
    standin: TencentStandIn, answer: tuple[str, object], error: type[GatewayError], words: str
) -> None:
    standin.fail_next.append(answer)
    with pytest.raises(error, match=words) as raised:
        voice_gateway(standin.endpoint).place_checkin_call(QIAN_PHONE, name=QIAN, outbound_id=1)
    assert type(raised.value) is error
    assert voice_gateway(standin.endpoint).place_checkin_call(QIAN_PHONE, name=QIAN, outbound_id=1)  # the next goes


def test_a_landline_is_refused_and_nothing_can_be_said_but_the_template(standin: TencentStandIn) -> None:
    gateway = voice_gateway(standin.endpoint)
    with pytest.raises(GatewayRejectedError, match="CalledNumberVerifyFail"):
        gateway.place_checkin_call(PHONES["孙爷爷"], name="孙爷爷", outbound_id=1)
    with pytest.raises(GatewayRejectedError, match="only approved templates"):
        gateway.place_call(QIAN_PHONE, twiml_url="https://hotline.example.org/twilio/voice/message?o=1")
    with pytest.raises(GatewayRejectedError):
        gateway.send_sms(QIAN_PHONE, "你好")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(GatewayTemporaryError, match="cannot reach"):
        voice_gateway(closed).place_checkin_call(QIAN_PHONE, name=QIAN, outbound_id=1)
    assert standin.calls == []


def test_the_check_in_call_goes_as_the_template_with_her_name_and_throttling_is_tried_again(
    services: Services, vms: TencentStandIn, clock: Clock, town: dict[str, int]
) -> None:
    vms.fail_next += [("http", 503)]
    tick(services, clock, "09:00")  # the batch meets the 503 and stops, to come back a second later
    assert vms.calls == [] and calls_to(services, QIAN_PHONE) == []  # nothing through the local gateway either
    with services.sessions() as session:
        rows = session.scalars(select(OutboundMessage).where(OutboundMessage.kind == "checkin")).all()
    by_phone = {row.to_phone: row.id for row in rows if row.status == OutboundStatus.PENDING}
    assert set(by_phone) == {QIAN_PHONE, PHONES["孙爷爷"]}
    vms.fail_next += [("error", "RequestLimitExceeded")]
    assert deliver_sms(services, by_phone[QIAN_PHONE]) is False  # throttled: back to pending, nothing placed
    assert deliver_sms(services, by_phone[QIAN_PHONE]) and deliver_sms(services, by_phone[QIAN_PHONE])
    [placed] = vms.calls  # placed once, then nothing to do
    assert placed.body["CalledNumber"] == QIAN_PHONE and placed.body["TemplateParamSet"] == [QIAN]
    assert placed.body["TemplateId"] == CheckinVoiceTemplate.load().id
    # The landline: Tencent calls mainland mobiles only, so it is refused, and not tried all day.
    assert deliver_sms(services, by_phone[PHONES["孙爷爷"]])
    with services.sessions() as session:
        mine = session.get(OutboundMessage, by_phone[QIAN_PHONE])
        landline = session.get(OutboundMessage, by_phone[PHONES["孙爷爷"]])
        assert mine is not None and mine.status == OutboundStatus.SENT and mine.provider_sid
        assert landline is not None and landline.status == OutboundStatus.FAILED
    assert len(vms.calls) == 1


def test_pressing_1_answers_fine_and_no_call_follows(
    client: TestClient, services: Services, vms: TencentStandIn, clock: Clock, town: dict[str, int]
) -> None:
    tick(services, clock, "09:00")
    [call_id] = call_ids(services)
    clock.now = at("09:01")
    assert key(client, call_id, "1").json() == OK
    assert ended(client, call_id, "0").json() == OK
    run_worker(services)
    assert checkin_of(services, town[QIAN]).status == CheckinStatus.FINE
    assert checkin_of(services, town[QIAN]).last_call_result == "human"
    tick(services, clock, "09:15")
    tick(services, clock, "11:00")
    assert [c.body["CalledNumber"] for c in vms.calls].count(QIAN_PHONE) == 1 and len(call_ids(services)) == 1


def test_pressing_2_offers_a_groceries_task_to_the_liaison_once_however_often_it_is_reported(
    client: TestClient, services: Services, vms: TencentStandIn, clock: Clock, town: dict[str, int]
) -> None:
    tick(services, clock, "09:00")
    [call_id] = call_ids(services)
    clock.now = at("09:01")
    assert key(client, call_id, "2").status_code == 200
    run_worker(services)
    before = stored_rows(services)
    assert key(client, call_id, "2").json() == OK  # Tencent delivered it again
    run_worker(services)
    assert stored_rows(services) == before
    [task] = tasks(services)
    assert (task.category, task.resident_id, task.status) == (TaskCategory.GROCERIES, town[QIAN], TaskStatus.OFFERED)
    offers = [b for b in sent_to(services, LIAISON_PHONE) if QIAN in b]
    assert len(offers) == 1 and "买菜" in offers[0]
    with services.sessions() as session:
        [message] = session.scalars(select(InboundMessage)).all()
    assert (message.channel, message.need, message.from_phone) == ("voice", "groceries", QIAN_PHONE)
    assert checkin_of(services, town[QIAN]).status == CheckinStatus.NEEDS


def test_pressing_0_asks_for_a_call_back_the_template_cannot_put_through(
    client: TestClient, services: Services, vms: TencentStandIn, clock: Clock, town: dict[str, int]
) -> None:
    tick(services, clock, "09:00")
    [call_id] = call_ids(services)
    key(client, call_id, "9")  # "again": Tencent reads the template again by itself; nothing is stored
    run_worker(services)
    assert tasks(services) == []
    key(client, call_id, "0")
    run_worker(services)
    [task] = tasks(services)
    assert (task.category, task.resident_id) == (TaskCategory.CALLBACK, town[QIAN])
    assert checkin_of(services, town[QIAN]).status == CheckinStatus.NEEDS


def test_answered_without_a_key_is_not_fine_and_is_called_again(
    client: TestClient, services: Services, vms: TencentStandIn, clock: Clock, town: dict[str, int]
) -> None:
    tick(services, clock, "09:00")
    [call_id] = call_ids(services)
    ended(client, call_id, "0")
    checkin = checkin_of(services, town[QIAN])
    assert checkin.status not in (CheckinStatus.FINE, CheckinStatus.NEEDS) and checkin.last_call_result == "hung-up"
    tick(services, clock, "09:10")
    assert len(vms.calls) == 2


def test_a_bad_secret_or_an_unknown_call_stores_nothing(
    client: TestClient, services: Services, vms: TencentStandIn, clock: Clock, town: dict[str, int]
) -> None:
    tick(services, clock, "09:00")
    [call_id] = call_ids(services)
    before = stored_rows(services)
    wrong = f"/tencent/voice/callback?s={CALLBACK_SECRET[:-1]}x"
    for url in (wrong, "/tencent/voice/callback"):
        assert post_callback(client, "voicekey_callback", url=url, callid=call_id, keypress="1").status_code == 403
        assert post_callback(client, "voiceprompt_callback", url=url, callid=call_id, result="1").status_code == 403
    assert key(client, "not-our-call", "1").status_code == 404
    assert post_callback(client, "voicekey_callback", callid=call_id).status_code == 400  # no keypress
    assert client.post("/tencent/voice/callback?s=" + CALLBACK_SECRET, content=b"[1]").status_code == 400
    run_worker(services)
    assert stored_rows(services) == before
    assert checkin_of(services, town[QIAN]).last_call_result is None


def test_a_repeated_end_schedules_one_retry(
    client: TestClient, services: Services, vms: TencentStandIn, clock: Clock, town: dict[str, int]
) -> None:
    tick(services, clock, "09:00")
    [call_id] = call_ids(services)
    ended(client, call_id, "1")
    before = stored_rows(services)
    assert ended(client, call_id, "1").json() == OK
    assert stored_rows(services) == before
    tick(services, clock, "09:10")
    tick(services, clock, "09:15")
    assert len(vms.calls) == 2


def test_a_failure_reason_after_the_end_corrects_it(
    client: TestClient, services: Services, vms: TencentStandIn, clock: Clock, town: dict[str, int]
) -> None:
    tick(services, clock, "09:00")
    [first] = call_ids(services)
    ended(client, first, "2")  # a call error: not tried again, unless the reason says so
    assert checkin_of(services, town[QIAN]).next_call_at is None
    failed(client, first, 2)  # busy on a call
    failed(client, first, 2)
    checkin = checkin_of(services, town[QIAN])
    assert (checkin.last_call_result, checkin.next_call_at) == ("busy", at("09:10"))
    tick(services, clock, "09:10")
    second = call_ids(services)[1]
    failed(client, second, 8)  # 空号: no such number, never called again
    ended(client, second, "2")
    tick(services, clock, "09:20")
    assert len(vms.calls) == 2
    assert checkin_of(services, town[QIAN]).last_call_result == "failed"


@pytest.mark.parametrize("channel", ["twilio", "tencent"])
def test_not_answered_climbs_the_same_retries_and_ladder_as_a_twilio_call(
    client: TestClient,
    services: Services,
    standin: TencentStandIn,
    clock: Clock,
    town: dict[str, int],
    channel: str,
) -> None:
    if channel == "tencent":
        calls_through_vms(services, standin.endpoint)
    tick(services, clock, "09:00")
    for n, result in enumerate(["no-answer", "busy", "no-answer", "no-answer"]):
        if channel == "twilio":
            answer_call(client, services, calls_to(services, QIAN_PHONE)[-1]).not_picked_up(result)
        elif result == "busy":
            failed(client, call_ids(services)[-1], 10)  # 用户正忙: the reason alone
        else:
            ended(client, call_ids(services)[-1], "1")
        tick(services, clock, f"09:{10 * (n + 1):02d}")
    tick(services, clock, "12:00")
    [visit] = [t for t in tasks(services) if t.category == TaskCategory.VISIT and t.resident_id == town[QIAN]]
    assert call_events(services, town[QIAN]) == [
        ("called", "called 1"),
        ("call_result", "call 1: no-answer"),
        ("called", "call 2"),
        ("call_result", "call 2: busy"),
        ("called", "call 3"),
        ("call_result", "call 3: no-answer"),
        ("called", "call 4"),
        ("call_result", "call 4: no-answer"),  # three retries, and no more
        ("reminded", "voice and a call"),  # 11:00, the window closed: the reminder rung's call
        ("called", "call 5"),
        ("visit", f"task:{visit.id}"),  # 12:00: the liaison asked to visit
    ]
    assert visit.assignee_liaison_id is not None and visit.priority == TaskPriority.URGENT
    with services.sessions() as session:
        placed = session.scalar(select(func.count()).where(OutboundMessage.to_phone == QIAN_PHONE))
    assert placed == 5


def test_a_key_reported_after_the_end_still_answers_and_stops_the_retry(
    client: TestClient, services: Services, vms: TencentStandIn, clock: Clock, town: dict[str, int]
) -> None:
    tick(services, clock, "09:00")
    [call_id] = call_ids(services)
    ended(client, call_id, "0")  # the end came first: no key yet, so another call is due
    assert checkin_of(services, town[QIAN]).next_call_at == at("09:10")
    key(client, call_id, "1")
    run_worker(services)
    checkin = checkin_of(services, town[QIAN])
    assert (checkin.status, checkin.last_call_result, checkin.next_call_at) == (CheckinStatus.FINE, "human", None)
    tick(services, clock, "09:10")
    assert len(call_ids(services)) == 1


def test_a_key_on_a_call_whose_id_was_not_recorded_yet_is_still_heard(
    client: TestClient, services: Services, vms: TencentStandIn, clock: Clock, town: dict[str, int]
) -> None:
    tick(services, clock, "09:00")
    [call_id] = call_ids(services)
    with services.sessions.begin() as session:  # as the placing left it when Tencent answered too late
        row = session.scalars(select(OutboundMessage).where(OutboundMessage.provider_sid == call_id)).one()
        row.provider_sid, row.status, row_id = None, OutboundStatus.UNKNOWN, row.id
    clock.now = at("09:01")
    assert key(client, "tencent-called-it", "4").json() == OK  # 身体不舒服: the call took place after all
    run_worker(services)
    with services.sessions() as session:
        adopted = session.get(OutboundMessage, row_id)
        assert adopted is not None and (adopted.provider_sid, adopted.status) == ("tencent-called-it", "sent")
    [task] = tasks(services)
    assert task.resident_id == town[QIAN] and task.priority == TaskPriority.URGENT
    assert checkin_of(services, town[QIAN]).status == CheckinStatus.UNWELL
    assert key(client, "another-unknown-call", "1").status_code == 404  # nothing left to take it: stores nothing
