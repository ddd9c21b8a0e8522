"""A triage item linked to a resident or registered as a new one: the number joins the resident, the item's
needs become their tasks once, the register's checks refuse a bad number with nothing changed, and a linked "fine"
answers only a check-in already due. Driven through the signed webhooks and a real worker."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.exceptions import InvalidAction
from dispatch.models import (
    Checkin,
    CheckinStatus,
    InboundMessage,
    InboundOutcome,
    OutboundMessage,
    Resident,
    StaffRole,
    Task,
    TaskCategory,
    TaskPriority,
    TaskStatus,
    TriageItem,
    TriageStatus,
)
from dispatch.staff_accounts import household_scope
from dispatch.triage import actions
from dispatch.triage.handover import handle_as_registered
from dispatch.triage.items import triage_scope
from hotline.services import Services
from tests.conftest import LIAISON_PHONE, RESIDENT_PHONE, STRANGER_PHONE
from tests.triage_helpers import HOME, act, audit_log, counts, items, staff, text


@pytest.mark.usefixtures("community")
def test_linking_adds_the_number_to_the_resident_and_makes_their_needs_tasks_once(
    client: TestClient, services: Services
) -> None:
    text(client, services, "我是梁阿姨女儿，她想买点菜")
    text(client, services, "她还有点发烧")
    [item] = items(services)
    clerk = staff(services, "clerk1", StaffRole.CLERK, community=HOME)
    with services.sessions() as session:
        resident_id = register.find_residents_by_phone(session, RESIDENT_PHONE)[0].id
    before = counts(services)

    def link(session: Any) -> actions.Handled:
        return actions.link_resident(
            session,
            item.id,
            resident_id,
            actor=clerk,
            where=triage_scope(clerk),
            resident_where=household_scope(clerk),
            now=services.clock(),
            context=services.intake,
        )

    done = act(services, link)
    assert done.phone_added and done.resident_id == resident_id and len(done.task_ids) == 2
    with services.sessions() as session:
        resident = session.get(Resident, resident_id)
        assert resident is not None
        assert [p.phone for p in resident.phones] == [RESIDENT_PHONE, STRANGER_PHONE]  # extra, not first
        made = session.scalars(select(Task).where(Task.id.in_(done.task_ids)).order_by(Task.id)).all()
        assert [(t.category, t.priority, t.status, t.resident_id) for t in made] == [
            (TaskCategory.GROCERIES, TaskPriority.NORMAL, TaskStatus.OFFERED, resident_id),
            (TaskCategory.UNWELL, TaskPriority.URGENT, TaskStatus.OFFERED, resident_id),
        ]
        stored = session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
        assert {m.resident_id for m in stored} == {resident_id}
        assert InboundOutcome.UNKNOWN_SENDER not in {m.outcome for m in stored}
        linked = session.get(TriageItem, item.id)
        assert linked is not None and linked.status == TriageStatus.LINKED and linked.open_phone is None
        assert linked.resident_id == resident_id and linked.closed_by == "clerk1"
    with services.sessions() as session:  # the liaison's offers, decided for the caller to queue after the commit
        offers = session.scalars(select(OutboundMessage.task_id).where(OutboundMessage.to_phone == LIAISON_PHONE))
        assert sorted(offers) == sorted(done.task_ids)
    assert ("link", "triage", f"resident:{resident_id}") in audit_log(services)
    assert ("edit", "resident", "phones") in audit_log(services)
    # A second submit is refused and changes nothing; running the handover again does nothing either.
    after = counts(services)
    assert after[0] == before[0] + 2
    with pytest.raises(InvalidAction, match="linked already"):
        act(services, link)
    with services.sessions.begin() as session:
        again = [handle_as_registered(session, m.id, services.intake) for m in stored]
    assert {r.outcome for r in again} == {None}
    assert counts(services) == after
    # The number is the resident's now: a new message is hers at once, with no new item.
    text(client, services, "谢谢")
    assert len(items(services)) == 1


@pytest.mark.usefixtures("community")
def test_the_registers_checks_refuse_a_number_and_nothing_changes(client: TestClient, services: Services) -> None:
    text(client, services, "hello, I am her son abroad", phone="+14155550100")
    [item] = items(services)
    admin = staff(services)
    with services.sessions() as session:
        resident_id = register.find_residents_by_phone(session, RESIDENT_PHONE)[0].id
    before = counts(services)
    with pytest.raises(InvalidAction, match="phones"):
        act(
            services,
            lambda session: actions.link_resident(
                session,
                item.id,
                resident_id,
                actor=admin,
                where=triage_scope(admin),
                resident_where=household_scope(admin),
                now=services.clock(),
                context=services.intake,
            ),
        )
    assert counts(services) == before
    assert items(services)[0].status == TriageStatus.OPEN


@pytest.mark.usefixtures("community")
def test_registering_a_new_resident_from_an_item_hands_them_its_messages(
    client: TestClient, services: Services
) -> None:
    text(client, services, "我是新搬来的，想买药")
    [item] = items(services)
    clerk = staff(services, "clerk1", StaffRole.CLERK, community=HOME)
    with services.sessions() as session:
        liaison = register.find_liaison_by_phone(session, LIAISON_PHONE)
        assert liaison is not None

    def enrol(session: Any) -> actions.Handled:
        return actions.register_resident(
            session,
            item.id,
            name="孙爷爷",
            building="5号楼",
            unit="1单元",
            room="101",
            liaison_id=liaison.id,
            actor=clerk,
            where=triage_scope(clerk),
            resident_where=household_scope(clerk),
            now=services.clock(),
            context=services.intake,
        )

    done = act(services, enrol)
    with services.sessions() as session:
        [resident] = register.find_residents_by_phone(session, STRANGER_PHONE)
        assert resident.id == done.resident_id and resident.name == "孙爷爷"
        assert resident.household.community is not None and resident.household.community.name == HOME
        assert resident.household.primary_liaison_id == liaison.id
        [made] = session.scalars(select(Task).where(Task.id.in_(done.task_ids))).all()
        assert made.category == TaskCategory.MEDICINE and made.assignee_liaison_id == liaison.id
    actions_done = [a for a, kind, _ in audit_log(services) if kind in ("triage", "resident")]
    assert actions_done == ["add", "edit", "register"]  # the liaison set through the register's own edit
    with pytest.raises(InvalidAction, match="registered already"):
        act(services, enrol)
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Resident).where(Resident.name == "孙爷爷")) == 1


@pytest.mark.usefixtures("community")
def test_a_linked_fine_answers_only_a_check_in_already_due_when_it_arrived(
    client: TestClient, services: Services
) -> None:
    text(client, services, "平安")
    [item] = items(services)
    admin = staff(services)
    with services.sessions.begin() as session:
        arrived = session.scalars(select(InboundMessage.received_at)).one()
        resident = register.find_residents_by_phone(session, RESIDENT_PHONE)[0]
        asked = [
            Checkin(
                resident_id=resident.id,
                household_id=resident.household_id,
                local_date=arrived.date(),
                slot=slot,
                channel="sms",
                phone=RESIDENT_PHONE,
                due_at=due,
                sent_at=due,
                status=CheckinStatus.SENT,
            )
            for slot, due in (("08:00", arrived - timedelta(hours=2)), ("10:00", arrived + timedelta(minutes=1)))
        ]
        session.add_all(asked)
        session.flush()
        earlier, later = asked[0].id, asked[1].id
        resident_id = resident.id
    act(
        services,
        lambda session: actions.link_resident(
            session,
            item.id,
            resident_id,
            actor=admin,
            where=triage_scope(admin),
            resident_where=household_scope(admin),
            now=arrived + timedelta(minutes=5),
            context=services.intake,
        ),
    )
    with services.sessions() as session:
        # The later question was asked after the message arrived: an old "fine" must not answer it.
        assert session.get(Checkin, later).status == CheckinStatus.SENT  # type: ignore[union-attr]
        assert session.get(Checkin, earlier).status == CheckinStatus.FINE  # type: ignore[union-attr]
