"""The register's people rules: numbers, landlines, households, liaisons, and whose message an SMS is."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.exceptions import AlreadyRegistered, InvalidPhoneNumber, NotFound
from dispatch.models import Channel, InboundMessage, InboundOutcome, Task, TaskStatus
from hotline.services import Services
from tests.conftest import LIAISON_PHONE, local_outbox, post_signed, run_worker, sms_params

HOME = register.Address("幸福里社区", "3号楼", "2单元", "402")


def test_a_landline_resident_is_reached_by_voice(services: Services) -> None:
    with services.sessions.begin() as session:
        resident = register.add_resident(session, name="王大爷", phones=["0371-6688 1234"], region="CN")
        assert resident.channel == Channel.VOICE
        assert resident.phones[0].landline and resident.phone == "+8637166881234"
        mobile = register.add_resident(session, name="梁阿姨", phones=["+86 138 0013 8000"], region="CN")
        assert mobile.channel == Channel.SMS and not mobile.phones[0].landline


def test_numbers_from_another_country_or_invalid_are_refused(services: Services) -> None:
    with services.sessions.begin() as session:
        with pytest.raises(InvalidPhoneNumber, match="number of US, not CN"):
            register.add_resident(session, name="A", phones=["+1 650 253 0000"], region="CN")
        with pytest.raises(InvalidPhoneNumber, match="'12345'"):
            register.add_liaison(session, name="B", phone="12345", region="CN")


def test_a_couple_may_share_a_phone_and_a_household(services: Services) -> None:
    with services.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone=LIAISON_PHONE, region="CN")
        wife = register.add_resident(
            session, name="梁阿姨", phones=["13800138000"], liaison_phone=LIAISON_PHONE, address=HOME, region="CN"
        )
        husband = register.add_resident(session, name="王大爷", phones=["13800138000"], address=HOME, region="CN")
        assert wife.household_id == husband.household_id
        assert husband.liaison is not None and husband.liaison.name == "张敏"
        with pytest.raises(AlreadyRegistered):  # the same person twice is still refused
            register.add_resident(session, name="梁阿姨", phones=["13800138000"], region="CN")


def test_a_liaison_cannot_be_their_own_liaison_or_their_own_backup(services: Services) -> None:
    with services.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone=LIAISON_PHONE, region="CN")
        with pytest.raises(ValueError, match="own liaison"):
            register.add_resident(
                session, name="张敏", phones=[LIAISON_PHONE], liaison_phone=LIAISON_PHONE, region="CN"
            )
        with pytest.raises(ValueError, match="other than the primary"):
            register.add_resident(
                session,
                name="梁阿姨",
                phones=["13800138000"],
                liaison_phone=LIAISON_PHONE,
                backup_liaison_phone=LIAISON_PHONE,
                region="CN",
            )
        with pytest.raises(NotFound):
            register.add_resident(
                session, name="梁阿姨", phones=["13800138000"], liaison_phone="13700000009", region="CN"
            )


def test_an_sms_from_a_number_shared_in_one_household_is_the_households(client: TestClient, services: Services) -> None:
    with services.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone=LIAISON_PHONE, region="CN")
        for name in ("梁阿姨", "王大爷"):
            register.add_resident(
                session, name=name, phones=["13800138000"], liaison_phone=LIAISON_PHONE, address=HOME, region="CN"
            )
    post_signed(client, services, "/twilio/sms", sms_params("买菜", from_phone="+8613800138000"))
    run_worker(services)
    with services.sessions() as session:
        task = session.scalars(select(Task)).one()
        message = session.scalars(select(InboundMessage)).one()
    assert task.resident_id is None and task.household_id is not None  # the household's need, not one person's
    assert task.status == TaskStatus.OFFERED and message.outcome == InboundOutcome.TASK_CREATED
    offer = next(e for e in local_outbox(services) if e.to_phone == LIAISON_PHONE)
    assert "梁阿姨、王大爷" in offer.body


def test_an_sms_from_a_number_shared_across_households_goes_to_a_clerk(client: TestClient, services: Services) -> None:
    with services.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone=LIAISON_PHONE, region="CN")
        for name, room in (("梁阿姨", "402"), ("王大爷", "502")):
            address = register.Address("幸福里社区", "3号楼", "2单元", room)
            register.add_resident(
                session, name=name, phones=["13800138000"], liaison_phone=LIAISON_PHONE, address=address, region="CN"
            )
    post_signed(client, services, "/twilio/sms", sms_params("头晕", from_phone="+8613800138000"))
    run_worker(services)
    with services.sessions() as session:
        task = session.scalars(select(Task)).one()
        message = session.scalars(select(InboundMessage)).one()
    assert message.outcome == InboundOutcome.AMBIGUOUS_SENDER
    # No household to climb through: straight to staff (no duty phone is set here, so the board shows it).
    assert task.status == TaskStatus.ESCALATED and task.assignee_liaison_id is None and task.household_id is None
    sent = local_outbox(services)
    assert [e.to_phone for e in sent] == ["+8613800138000"]  # no guess at a liaison; the sender hears back
    assert "回电" in sent[0].body


def test_a_landline_resident_gets_no_sms_receipt(client: TestClient, services: Services) -> None:
    with services.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone=LIAISON_PHONE, region="CN")
        register.add_resident(session, name="王大爷", phones=["037166881234"], liaison_phone=LIAISON_PHONE, region="CN")
    post_signed(client, services, "/twilio/sms", sms_params("买药", from_phone="+8637166881234"))
    run_worker(services)
    assert [e.to_phone for e in local_outbox(services)] == [LIAISON_PHONE]
