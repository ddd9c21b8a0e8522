"""Tencent Cloud SMS, outbound: the real tencentcloud SDK through our gateway against a local stand-in that checks
its TC3 signature; each answer mapped to what the outbox does next; every SMS sent as its approved template."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import outbox
from dispatch.models import OutboundMessage, OutboundStatus
from dispatch.sms_templates import TemplateTable
from dispatch.texts import MessageCatalog
from hotline.jobs.sends import deliver_sms
from hotline.services import Services
from tests.conftest import LIAISON_PHONE, RESIDENT_PHONE, post_signed, run_worker, sms_params
from tests.standins.tencent import TencentStandIn
from workers.exceptions import (
    GatewayAmbiguousError,
    GatewayError,
    GatewayRejectedError,
    GatewayTemporaryError,
    RecordingMissingError,
)
from workers.gateways.tencent_sms import TencentSmsGateway

SECRET_ID = "AKID" + "Ab1" * 10
SECRET_KEY = "Kx9" * 11
APP_ID = "1400006666"
SIGN = "社区热线"


@pytest.fixture
def standin() -> Iterator[TencentStandIn]:
    with TencentStandIn(SECRET_ID, SECRET_KEY) as running:
        yield running


def gateway(endpoint: str, *, key: str = SECRET_KEY, timeout: int = 10) -> TencentSmsGateway:
    return TencentSmsGateway(
        secret_id=SECRET_ID,
        secret_key=key,
        app_id=APP_ID,
        sign_name=SIGN,
        region="ap-guangzhou",
        endpoint=endpoint,
        templates=TemplateTable.load(),
        timeout=timeout,
    )


def checkin_text(name: str = "梁阿姨") -> str:
    return MessageCatalog.load().render("checkin_sms", "zh-CN", resident_name=name, menu="1好 2买菜 3买药")


def test_the_sdk_signs_each_send_and_the_standin_refuses_a_wrong_key(standin: TencentStandIn) -> None:
    with pytest.raises(GatewayRejectedError, match=r"AuthFailure\.SignatureFailure"):
        gateway(standin.endpoint, key="Wrong9" * 6).send_sms(RESIDENT_PHONE, checkin_text())
    assert standin.sent == [] and standin.refused == ["AuthFailure.SignatureFailure"]

    serial = gateway(standin.endpoint).send_sms(RESIDENT_PHONE, checkin_text(), outbound_id=7)
    [sent] = standin.sent
    table = TemplateTable.load()
    [checkin] = [t for t in table.templates if t.key == "checkin_sms"]
    assert sent.body == {
        "PhoneNumberSet": [RESIDENT_PHONE],
        "SmsSdkAppId": APP_ID,
        "SignName": SIGN,
        "TemplateId": checkin.id,
        "TemplateParamSet": ["梁阿姨", "1好 2买菜 3买药"],
        "SessionContext": "7",
    }
    assert sent.headers["x-tc-action"] == "SendSms" and sent.headers["x-tc-region"] == "ap-guangzhou"
    assert serial.startswith("2019:") and len(serial) > 10


@pytest.mark.parametrize(
    ("answer", "error", "words"),
    [
        (("http", 503), GatewayTemporaryError, "HTTP error"),
        (("error", "RequestLimitExceeded"), GatewayTemporaryError, "RequestLimitExceeded"),
        (("error", "InternalError.Timeout"), GatewayTemporaryError, "InternalError.Timeout"),
        (("number", "LimitExceeded.PhoneNumberThirtySecondLimit"), GatewayTemporaryError, "ThirtySecond"),
        (("number", "LimitExceeded.PhoneNumberDailyLimit"), GatewayRejectedError, "PhoneNumberDailyLimit"),
        (("error", "LimitExceeded.AppDailyLimit"), GatewayTemporaryError, "AppDailyLimit"),
        (("number", "InvalidParameterValue.IncorrectPhoneNumber"), GatewayRejectedError, "IncorrectPhoneNumber"),
        (("error", "FailedOperation.TemplateIncorrectOrUnapproved"), GatewayRejectedError, "TemplateIncorrect"),
        (("empty", ""), GatewayAmbiguousError, "SendStatusSet"),
    ],
)
def test_each_answer_maps_to_what_the_outbox_does_next(
    standin: TencentStandIn, answer: tuple[str, object], error: type[GatewayError], words: str
) -> None:
    standin.fail_next.append(answer)
    with pytest.raises(error, match=words) as raised:
        gateway(standin.endpoint).send_sms(RESIDENT_PHONE, checkin_text())
    assert type(raised.value) is error
    assert gateway(standin.endpoint).send_sms(RESIDENT_PHONE, checkin_text())  # the next one goes


def test_no_answer_in_time_may_have_sent_and_no_connection_has_not(standin: TencentStandIn) -> None:
    standin.fail_next.append(("late", ""))
    with pytest.raises(GatewayAmbiguousError, match="may have gone"):
        gateway(standin.endpoint, timeout=1).send_sms(RESIDENT_PHONE, checkin_text())
    # It did reach Tencent (the stand-in may record it after the client gave up, on a busy machine): never resent.
    for _ in range(200):  # ten seconds at most
        if standin.sent:
            break
        threading.Event().wait(0.05)
    assert len(standin.sent) == 1
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(GatewayTemporaryError, match="cannot reach"):
        gateway(closed).send_sms(RESIDENT_PHONE, checkin_text())


def test_this_channel_places_no_calls_and_holds_no_recordings(standin: TencentStandIn) -> None:
    with pytest.raises(GatewayRejectedError):
        gateway(standin.endpoint).place_call(RESIDENT_PHONE, twiml_url="https://hotline.example.org/x")
    with pytest.raises(RecordingMissingError):
        gateway(standin.endpoint).open_recording("https://api.twilio.com/RE1")
    assert standin.sent == []


def test_a_text_no_template_renders_is_refused_before_anything_is_sent(standin: TencentStandIn) -> None:
    with pytest.raises(GatewayRejectedError, match="no approved template"):
        gateway(standin.endpoint).send_sms(RESIDENT_PHONE, "see https://example.com/x")
    assert standin.sent == [] and standin.refused == []


def test_a_send_job_run_twice_sends_once(services: Services, standin: TencentStandIn) -> None:
    services.gateway = gateway(standin.endpoint)
    with services.sessions.begin() as session:
        row = outbox.queue_sms(session, dedupe_key="checkin:1", to_phone=RESIDENT_PHONE, body=checkin_text())
        assert row is not None
        session.flush()
        outbound_id = row.id
    standin.fail_next.append(("error", "RequestLimitExceeded"))
    assert deliver_sms(services, outbound_id) is False  # throttled: back to pending, nothing sent
    assert standin.sent == []
    assert deliver_sms(services, outbound_id) and deliver_sms(services, outbound_id)
    assert len(standin.sent) == 1 and standin.sent[0].body["SessionContext"] == str(outbound_id)
    with services.sessions() as session:
        stored = session.get(OutboundMessage, outbound_id)
        assert stored is not None and stored.status == OutboundStatus.SENT
        assert stored.provider_sid is not None and stored.provider_sid.startswith("2019:")


def test_a_resident_sms_reaches_the_liaison_as_its_template_without_a_link(
    client: TestClient, services: Services, registered: dict[str, int], standin: TencentStandIn
) -> None:
    services.gateway = gateway(standin.endpoint)
    words = "想买点菜，清单在 www.example.com/list"
    post_signed(client, services, "/twilio/sms", sms_params(words))
    run_worker(services)
    with services.sessions() as session:
        offer = session.scalars(select(OutboundMessage).where(OutboundMessage.to_phone == LIAISON_PHONE)).one()
    [sent] = [s for s in standin.sent if s.body["PhoneNumberSet"] == [LIAISON_PHONE]]
    table = TemplateTable.load()
    [template] = [t for t in table.templates if t.id == sent.body["TemplateId"]]
    assert template.key == "liaison_task_offer"
    assert not any("example.com" in value for value in sent.params)
    assert sent.params[-1] == "想买点菜，清单在 " + table.link_replacement
    # Tencent renders the template with its values: the liaison reads the offer as stored, the link left out.
    rendered = tencent_render(template.text, sent.params)
    assert "【" + SIGN + "】" + rendered == offer.body.replace("www.example.com/list", table.link_replacement)
    assert offer.status == OutboundStatus.SENT and offer.provider_sid == offer.provider_sid.strip()


def tencent_render(template: str, values: list[str]) -> str:
    for number, value in enumerate(values, start=1):
        template = template.replace(f"{{{number}}}", value, 1)
    return template
