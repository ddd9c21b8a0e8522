"""POST /twilio/status: signed delivery reports, applied in order of progress whatever order they come in."""

from __future__ import annotations

from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.models import OutboundMessage, OutboundStatus
from hotline.services import Services
from tests.conftest import LIAISON_PHONE, local_outbox, post_signed, run_worker, sms_params


def offer(services: Services) -> OutboundMessage:
    with services.sessions() as session:
        return session.scalars(select(OutboundMessage).where(OutboundMessage.to_phone == LIAISON_PHONE)).one()


def test_reports_out_of_order_end_in_the_right_state(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    post_signed(client, services, "/twilio/sms", sms_params())
    run_worker(services)
    sid = offer(services).provider_sid
    assert sid is not None and sid in {e.sid for e in local_outbox(services)}
    for status in ("delivered", "sent", "queued"):
        response = post_signed(client, services, "/twilio/status", {"MessageSid": sid, "MessageStatus": status})
        assert response.status_code == 204
    assert offer(services).status == OutboundStatus.DELIVERED


def test_unsigned_report_is_refused(client: TestClient, services: Services, registered: dict[str, int]) -> None:
    post_signed(client, services, "/twilio/sms", sms_params())
    run_worker(services)
    sid = offer(services).provider_sid
    response = client.post("/twilio/status", data={"MessageSid": sid, "MessageStatus": "failed"})
    assert response.status_code == 403
    assert offer(services).status == OutboundStatus.SENT


def test_report_without_status_is_a_clear_400(client: TestClient, services: Services) -> None:
    response = post_signed(client, services, "/twilio/status", {"MessageSid": "SM" + "0" * 32})
    assert response.status_code == 400 and "MessageStatus" in response.text
