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


def test_a_report_that_beats_the_worker_is_kept(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    """Twilio can report delivery before the worker has recorded the SID; the report must not be lost."""
    from dispatch import outbox
    from hotline.webhooks.paths import status_callback_path

    post_signed(client, services, "/twilio/sms", sms_params())
    services.redis.flushall()  # keep the worker away: this test plays the worker by hand
    from dispatch.intake_batch import handle_inbound_message

    with services.sessions.begin() as session:
        message_id = session.scalars(select(OutboundMessage.id)).first()
        from dispatch.models import InboundMessage

        inbound_id = session.scalars(select(InboundMessage.id)).one()
        result = handle_inbound_message(session, inbound_id, services.intake)
    offer_id = result.outbound_ids[0]
    assert message_id is None
    with services.sessions.begin() as session:
        assert outbox.claim_for_sending(session, offer_id) is not None
    sid = services.gateway.send_sms(LIAISON_PHONE, "x")  # handed over; the worker has not recorded it yet
    response = post_signed(
        client, services, status_callback_path(offer_id), {"MessageSid": sid, "MessageStatus": "delivered"}
    )
    assert response.status_code == 204
    with services.sessions.begin() as session:
        outbox.mark_sent(session, offer_id, sid)  # the worker catches up
    assert offer(services).status == OutboundStatus.DELIVERED
    assert offer(services).provider_sid == sid


def test_a_report_for_another_message_id_is_ignored(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    post_signed(client, services, "/twilio/sms", sms_params())
    run_worker(services)
    row = offer(services)
    response = post_signed(
        client, services, f"/twilio/status?o={row.id}", {"MessageSid": "SM" + "f" * 32, "MessageStatus": "failed"}
    )
    assert response.status_code == 204
    assert offer(services).status == OutboundStatus.SENT


def test_error_21610_opts_the_resident_out_and_the_code_is_kept(
    client: TestClient, services: Services, registered: dict[str, int]
) -> None:
    from dispatch.models import Resident, ResidentStatus
    from tests.conftest import RESIDENT_PHONE

    post_signed(client, services, "/twilio/sms", sms_params())
    run_worker(services)
    with services.sessions() as session:
        receipt = session.scalars(select(OutboundMessage).where(OutboundMessage.to_phone == RESIDENT_PHONE)).one()
    report = {"MessageSid": str(receipt.provider_sid), "MessageStatus": "undelivered", "ErrorCode": "21610"}
    assert post_signed(client, services, f"/twilio/status?o={receipt.id}", report).status_code == 204
    with services.sessions() as session:
        assert session.get(OutboundMessage, receipt.id).error_code == 21610  # type: ignore[union-attr]
        assert session.get(Resident, registered["resident"]).status == ResidentStatus.OPTED_OUT  # type: ignore[union-attr]
    bad = post_signed(client, services, f"/twilio/status?o={receipt.id}", {**report, "ErrorCode": "x"})
    assert bad.status_code == 400
