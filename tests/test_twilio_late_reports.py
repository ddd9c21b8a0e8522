"""Twilio's delivery reports can come hours late and out of order. A late one must not undo what happened since:
no resend of an offer whose task moved on, and no error code acted on for a message that was delivered."""

from __future__ import annotations

from sqlalchemy import select, update

from dispatch.models import OutboundStatus, ResidentPhone, Task, TaskStatus
from hotline.jobs import sends
from hotline.services import Services
from hotline.settings import Settings
from tests.conftest import LIAISON_PHONE, RESIDENT_PHONE, run_worker, sms_params
from tests.test_twilio_refusals import problems, report, rows, texts_to
from tests.twilio_behaviour_helpers import deliver, household


def _offered(settings: Settings, services: Services) -> None:
    """梁阿姨 asks for groceries; the offer goes to her liaison."""
    household(services)
    deliver(settings, services, settings.callback_url("/twilio/sms"), sms_params("买菜"), 1)
    run_worker(services)
    assert len(texts_to(services, LIAISON_PHONE)) == 1


def _taken(services: Services) -> None:
    with services.sessions.begin() as session:
        session.execute(update(Task).values(status=TaskStatus.ACCEPTED))


def test_a_late_throttle_report_for_an_offer_already_taken_sends_nothing(
    settings: Settings, services: Services
) -> None:
    _offered(settings, services)
    _taken(services)
    report(settings, services, rows(services)["task:1:offer:0"], "undelivered", 63018)
    run_worker(services)
    assert "task:1:offer:0:resend" not in rows(services)
    assert len(texts_to(services, LIAISON_PHONE)) == 1


def test_a_resend_waiting_its_minute_is_cancelled_if_the_task_is_taken_meanwhile(
    settings: Settings, services: Services
) -> None:
    _offered(settings, services)
    report(settings, services, rows(services)["task:1:offer:0"], "undelivered", 63018)
    resend = rows(services)["task:1:offer:0:resend"]
    assert resend.status == OutboundStatus.PENDING
    _taken(services)  # the liaison saw the first offer after all, and took it
    sends.send_sms(resend.id)  # its minute is up
    assert rows(services)["task:1:offer:0:resend"].status == OutboundStatus.CANCELLED
    assert len(texts_to(services, LIAISON_PHONE)) == 1


def test_a_late_undelivered_report_after_delivered_changes_nothing(settings: Settings, services: Services) -> None:
    _offered(settings, services)
    receipt = rows(services)["inbound:1:receipt"]
    report(settings, services, receipt, "delivered", 0)
    report(settings, services, receipt, "undelivered", 30006)  # late, and out of order
    after = rows(services)["inbound:1:receipt"]
    assert after.status == OutboundStatus.DELIVERED and after.error_code is None
    with services.sessions() as session:
        assert (
            session.scalars(select(ResidentPhone.landline).where(ResidentPhone.phone == RESIDENT_PHONE)).one() is False
        )
    assert problems(services) == []
