"""TwilioGateway with the real twilio client, against a local stand-in of Twilio's REST API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.models import OutboundMessage, OutboundStatus
from hotline.app import create_app
from hotline.services import Services
from hotline.settings import Settings, load_settings
from tests.conftest import (
    LIAISON_PHONE,
    PUBLIC_URL,
    RESIDENT_PHONE,
    fresh_services,
    post_signed,
    run_worker,
    sms_params,
)
from tests.twilio_standin import TwilioStandIn
from workers.exceptions import GatewayAmbiguousError, GatewayRejectedError, GatewayTemporaryError
from workers.gateways.twilio import TwilioGateway

ACCOUNT_SID = "AC" + "a" * 32
SERVICE_SID = "MG" + "b" * 32
FROM = "+8657112345678"


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    with TwilioStandIn() as server:
        yield server


def gateway(standin: TwilioStandIn, **kwargs: object) -> TwilioGateway:
    options: dict[str, object] = {
        "account_sid": ACCOUNT_SID,
        "auth_token": "secret-token",
        "from_number": FROM,
        "messaging_service_sid": None,
        "api_base_url": standin.base_url,
        "timeout": 10.0,  # generous: only a hung request (`hang_next`) should ever time out
    }
    options.update(kwargs)
    return TwilioGateway(**options)  # type: ignore[arg-type]


def test_send_sms_posts_exact_parameters(standin: TwilioStandIn) -> None:
    sid = gateway(standin).send_sms(LIAISON_PHONE, "新求助#1", status_callback=PUBLIC_URL + "/twilio/status")
    assert sid.startswith("SM")
    [request] = standin.requests
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.basic_auth == (ACCOUNT_SID, "secret-token")
    assert request.form == {
        "To": LIAISON_PHONE,
        "From": FROM,
        "Body": "新求助#1",
        "StatusCallback": PUBLIC_URL + "/twilio/status",
    }


def test_messaging_service_is_used_instead_of_from(standin: TwilioStandIn) -> None:
    gateway(standin, from_number=None, messaging_service_sid=SERVICE_SID).send_sms(RESIDENT_PHONE, "hi")
    assert standin.requests[0].form == {"To": RESIDENT_PHONE, "MessagingServiceSid": SERVICE_SID, "Body": "hi"}


def test_place_call_posts_url_and_callback(standin: TwilioStandIn) -> None:
    sid = gateway(standin).place_call(RESIDENT_PHONE, twiml_url=PUBLIC_URL + "/twilio/voice", status_callback="x")
    assert sid.startswith("CA")
    assert standin.requests[0].form == {
        "To": RESIDENT_PHONE,
        "From": FROM,
        "Url": PUBLIC_URL + "/twilio/voice",
        "StatusCallback": "x",
    }


def test_a_check_in_call_asks_for_answering_machine_detection(standin: TwilioStandIn) -> None:
    url = PUBLIC_URL + "/twilio/voice/checkin?o=7"
    gateway(standin).place_call(RESIDENT_PHONE, twiml_url=url, status_callback="y", machine_detection=True)
    assert standin.requests[0].form == {
        "To": RESIDENT_PHONE,
        "From": FROM,
        "Url": url,
        "StatusCallback": "y",
        "MachineDetection": "Enable",
    }


@pytest.mark.parametrize(
    ("status", "error"), [(429, GatewayTemporaryError), (500, GatewayTemporaryError), (400, GatewayRejectedError)]
)
def test_errors_say_whether_to_retry(standin: TwilioStandIn, status: int, error: type[Exception]) -> None:
    standin.fail_next.append(status)
    with pytest.raises(error):
        gateway(standin).send_sms(LIAISON_PHONE, "x")


def test_a_timeout_is_ambiguous_not_retried(standin: TwilioStandIn) -> None:
    standin.hang_next = 1
    with pytest.raises(GatewayAmbiguousError):
        gateway(standin, timeout=0.5).send_sms(LIAISON_PHONE, "x")


def test_an_unreachable_api_is_temporary() -> None:
    unreachable = TwilioGateway(
        account_sid=ACCOUNT_SID,
        auth_token="t",
        from_number=FROM,
        messaging_service_sid=None,
        api_base_url="http://127.0.0.1:9",  # the discard port: nothing listens
    )
    with pytest.raises(GatewayTemporaryError):
        unreachable.send_sms(LIAISON_PHONE, "x")


@pytest.fixture
def twilio_services(environ: dict[str, str], standin: TwilioStandIn) -> Iterator[Services]:
    settings = load_settings(
        {
            **environ,
            "HOTLINE_GATEWAY": "twilio",
            "HOTLINE_DUTY_PHONE": "+8637166880000",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_API_BASE_URL": standin.base_url,
            "HOTLINE_SMS_PER_SECOND": "0",  # these tests are about Twilio's answers; our own rate is tested apart
            "HOTLINE_CPS": "0",
        },
        env_file=None,
    )
    with fresh_services(settings) as built:
        yield built


def test_whole_loop_through_twilio_gateway_with_a_rate_limit(twilio_services: Services, standin: TwilioStandIn) -> None:
    from dispatch import register

    with twilio_services.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone=LIAISON_PHONE, region="CN")
        register.add_resident(session, name="梁阿姨", phones=[RESIDENT_PHONE], liaison_phone=LIAISON_PHONE, region="CN")
    standin.fail_next.append(429)  # the first send is rate-limited
    settings: Settings = twilio_services.settings
    with TestClient(create_app(settings, twilio_services), base_url=PUBLIC_URL) as client:
        assert post_signed(client, twilio_services, "/twilio/sms", sms_params("买菜")).status_code == 200
        run_worker(twilio_services)
        from hotline.jobs.sends import send_sms

        with twilio_services.sessions() as session:
            pending = session.scalars(
                select(OutboundMessage.id).where(OutboundMessage.status == OutboundStatus.PENDING)
            ).all()
        assert len(pending) == 1  # the rate-limited one waits for its retry
        send_sms(pending[0])

    accepted = [r.form for r in standin.requests]
    assert len(accepted) == 3  # refused once, then each SMS exactly once
    assert sorted(f["To"] for f in accepted[1:]) == sorted([LIAISON_PHONE, RESIDENT_PHONE])
    with twilio_services.sessions() as session:
        ids_by_phone = dict(session.execute(select(OutboundMessage.to_phone, OutboundMessage.id)).all())
    for form in accepted:
        assert form["From"] == FROM
        assert form["StatusCallback"] == f"{PUBLIC_URL}/twilio/status?o={ids_by_phone[form['To']]}"
    with twilio_services.sessions() as session:
        statuses = session.scalars(select(OutboundMessage.status)).all()
    assert sorted(statuses) == [OutboundStatus.SENT, OutboundStatus.SENT]


def test_a_send_that_timed_out_is_marked_unknown_and_never_resent(
    twilio_services: Services, standin: TwilioStandIn
) -> None:
    from dispatch import register
    from hotline.jobs import sweeper

    with twilio_services.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone=LIAISON_PHONE, region="CN")
        register.add_resident(session, name="梁阿姨", phones=[RESIDENT_PHONE], liaison_phone=LIAISON_PHONE, region="CN")
    # Short, so the hung send times out soon; the other sends must answer within it, even on a busy machine.
    twilio_services.gateway._client.http_client.timeout = 3.0  # type: ignore[attr-defined]
    standin.hang_next = 1  # Twilio takes the first SMS but answers too late
    with TestClient(create_app(twilio_services.settings, twilio_services), base_url=PUBLIC_URL) as client:
        post_signed(client, twilio_services, "/twilio/sms", sms_params("买菜"))
    run_worker(twilio_services)
    sweeper.sweep(grace_seconds=0)
    run_worker(twilio_services)
    with twilio_services.sessions() as session:
        statuses = dict(session.execute(select(OutboundMessage.to_phone, OutboundMessage.status)).all())
    assert statuses[LIAISON_PHONE] == OutboundStatus.UNKNOWN
    assert statuses[RESIDENT_PHONE] == OutboundStatus.SENT
    assert [r.form["To"] for r in standin.requests].count(LIAISON_PHONE) == 1  # asked once, never again


def test_a_dns_failure_is_temporary_not_ambiguous() -> None:
    """A name that does not resolve never reached Twilio: safe to retry (urllib3 wraps it twice over)."""
    import requests
    from urllib3.exceptions import MaxRetryError, NameResolutionError

    from workers.gateways.twilio import _translated_errors

    dns = NameResolutionError("api.twilio.com", None, OSError("no such host"))  # type: ignore[arg-type]
    wrapped = requests.ConnectionError(MaxRetryError(None, "/2010-04-01/Accounts", reason=dns))  # type: ignore[arg-type]
    with pytest.raises(GatewayTemporaryError), _translated_errors():
        raise wrapped
    with pytest.raises(GatewayAmbiguousError), _translated_errors():
        raise requests.ReadTimeout("read timed out")


def test_twilio_refusing_an_opted_out_number_opts_the_resident_out(
    twilio_services: Services, standin: TwilioStandIn
) -> None:
    from dispatch import register
    from dispatch.models import Resident, ResidentStatus

    with twilio_services.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone=LIAISON_PHONE, region="CN")
        resident = register.add_resident(
            session, name="梁阿姨", phones=[RESIDENT_PHONE], liaison_phone=LIAISON_PHONE, region="CN"
        )
        resident_id = resident.id
    standin.fail_next, standin.fail_code = [400, 400], 21610  # both SMS refused: the number replied STOP at Twilio
    with TestClient(create_app(twilio_services.settings, twilio_services), base_url=PUBLIC_URL) as client:
        post_signed(client, twilio_services, "/twilio/sms", sms_params("买菜"))
    run_worker(twilio_services)
    with twilio_services.sessions() as session:
        assert session.get(Resident, resident_id).status == ResidentStatus.OPTED_OUT  # type: ignore[union-attr]
        codes = session.scalars(select(OutboundMessage.error_code)).all()
    assert 21610 in codes
