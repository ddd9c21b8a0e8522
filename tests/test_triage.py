"""Messages from numbers not on the register reach staff: each number's messages (SMS, and a caller's choices and
voicemails) gather in one triage item on the board of the community that was texted, or the hotline's only one;
staff link it to a resident, register a new resident from it, or close it with a note, each audited and safe to
repeat. Driven through the signed webhooks and a real worker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.exceptions import InvalidAction, NotFound
from dispatch.models import (
    AuditEntry,
    Checkin,
    CheckinStatus,
    InboundMessage,
    InboundOutcome,
    OutboundMessage,
    Resident,
    StaffRole,
    StaffUser,
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
from dispatch.triage.views import item_detail, open_items
from hotline.services import Services
from tests.callflow import CallFlow
from tests.conftest import (
    LIAISON_PHONE,
    RESIDENT_PHONE,
    STRANGER_PHONE,
    post_signed,
    run_worker,
    sent_to,
    sms_params,
    tasks,
)
from tests.console_helpers import make_user

HOME = "幸福里社区"  # the `community` fixture's, with DUTY_PHONE
OTHER, OTHER_DUTY = "光明社区", "+8657100000002"


def text(client: TestClient, services: Services, body: str, phone: str = STRANGER_PHONE, to: str | None = None) -> None:
    params = sms_params(body, from_phone=phone)
    if to is not None:
        params["To"] = to
    assert post_signed(client, services, "/twilio/sms", params).status_code == 200
    run_worker(services)


def items(services: Services) -> list[TriageItem]:
    with services.sessions() as session:
        return list(session.scalars(select(TriageItem).order_by(TriageItem.id)))


def staff(services: Services, username: str = "admin", role: StaffRole = StaffRole.ADMIN, **scope: str) -> StaffUser:
    make_user(services, username, role, **scope)
    with services.sessions() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == username))
        assert user is not None
        session.expunge(user)
        return user


def act(services: Services, do: Callable[[Any], actions.Handled]) -> actions.Handled:
    with services.sessions.begin() as session:
        return do(session)


def audit_log(services: Services) -> list[tuple[str, str, str]]:
    with services.sessions() as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.object_kind, AuditEntry.detail).order_by(AuditEntry.id)
        )
        return [tuple(row) for row in rows]


def counts(services: Services) -> tuple[int, int, int]:
    with services.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Task)) or 0,
            session.scalar(select(func.count()).select_from(OutboundMessage)) or 0,
            session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
        )


@pytest.fixture
def two_communities(services: Services, community: None) -> None:
    """A second community with a number of its own, so texts to the hotline's number have no one community."""
    with services.sessions.begin() as session:
        register.find_or_create_community(session, OTHER).duty_phone = OTHER_DUTY


@pytest.mark.usefixtures("community")
def test_messages_from_one_unknown_number_gather_in_one_item_on_the_only_communitys_board(
    client: TestClient, services: Services
) -> None:
    text(client, services, "我是梁阿姨的女儿，我妈电话坏了")
    text(client, services, "她说想买点菜")
    [item] = items(services)
    assert item.status == TriageStatus.OPEN and item.phone == STRANGER_PHONE
    clerk = staff(services, "clerk1", StaffRole.CLERK, community=HOME)
    with services.sessions() as session:
        assert item.community_id == register.find_or_create_community(session, HOME).id
        stored = session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
        board = open_items(session, services.clock(), triage_scope(clerk))
    assert [m.triage_item_id for m in stored] == [item.id, item.id]
    assert {m.outcome for m in stored} == {InboundOutcome.UNKNOWN_SENDER}
    assert [(row.id, row.messages, row.last_said, row.phone) for row in board] == [
        (item.id, 2, "她说想买点菜", "137****0001")
    ]
    # The reply to the sender and its guard are as before: one polite SMS a day, and no task of its own.
    assert len(sent_to(services, STRANGER_PHONE)) == 1 and "未登记" in sent_to(services, STRANGER_PHONE)[0]
    assert tasks(services) == []


@pytest.mark.usefixtures("two_communities")
def test_an_item_is_on_the_board_of_the_community_whose_number_was_texted(
    client: TestClient, services: Services
) -> None:
    text(client, services, "请问光明社区有人吗", to=OTHER_DUTY)
    text(client, services, "发错了吧", phone="+8613700000002")  # to the hotline's number: no one community
    texted, unplaced = items(services)
    home_clerk = staff(services, "clerk1", StaffRole.CLERK, community=HOME)
    other_clerk = staff(services, "clerk2", StaffRole.CLERK, community=OTHER)
    leader = staff(services, "leader1", StaffRole.GRID_LEADER, grid=f"{HOME}/第1网格")
    admin = staff(services)
    with services.sessions() as session:
        assert texted.community_id == register.find_or_create_community(session, OTHER).id
        assert unplaced.community_id is None
        seen = {
            user.username: [row.id for row in open_items(session, services.clock(), triage_scope(user))]
            for user in (home_clerk, other_clerk, leader, admin)
        }
        with pytest.raises(NotFound):
            item_detail(session, texted.id, triage_scope(home_clerk), household_scope(home_clerk))
    assert seen == {"clerk1": [], "clerk2": [texted.id], "leader1": [], "admin": [texted.id, unplaced.id]}


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
def test_closing_with_a_note_does_nothing_else_and_a_later_message_opens_a_new_item(
    client: TestClient, services: Services
) -> None:
    text(client, services, "打错了")
    [item] = items(services)
    clerk = staff(services, "clerk1", StaffRole.CLERK, community=HOME)

    def close(note: str) -> Callable[[Any], actions.Handled]:
        return lambda session: actions.close_item(
            session, item.id, note, actor=clerk, where=triage_scope(clerk), now=services.clock()
        )

    with pytest.raises(InvalidAction, match="note"):
        act(services, close("  "))
    before = counts(services)
    act(services, close("打错号码了"))
    assert counts(services)[:2] == before[:2] and audit_log(services)[-1] == ("close", "triage", "")
    with pytest.raises(InvalidAction, match="closed already"):
        act(services, close("打错号码了"))
    closed = items(services)[0]
    assert closed.status == TriageStatus.CLOSED and closed.note == "打错号码了"
    text(client, services, "又是我")
    assert [i.status for i in items(services)] == [TriageStatus.CLOSED, TriageStatus.OPEN]


@pytest.mark.usefixtures("community")
def test_an_unknown_callers_voicemail_is_a_triage_item_and_its_task_becomes_the_residents(
    client: TestClient, services: Services
) -> None:
    flow = CallFlow(client, services, STRANGER_PHONE).call().press("0")
    flow.no_answer()
    flow.leave_message()
    flow.hang_up()
    run_worker(services)
    [item] = items(services)
    [task] = tasks(services)
    assert task.household_id is None and task.category == TaskCategory.CALLBACK  # duty staff still call back
    admin = staff(services)
    with services.sessions() as session:
        [row] = open_items(session, services.clock(), triage_scope(admin))
        detail = item_detail(session, item.id, triage_scope(admin), household_scope(admin))
        resident_id = register.find_residents_by_phone(session, RESIDENT_PHONE)[0].id
    assert row.voicemails == 1 and detail.messages[-1].voicemail and detail.messages[-1].task_ids == (task.id,)
    done = act(
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
    assert done.task_ids == [task.id]
    [rehomed] = tasks(services)
    assert rehomed.household_id is not None and rehomed.resident_id == resident_id


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


def test_two_messages_of_one_number_handled_at_once_make_one_item(
    services: Services, community: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if services.engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers, so two workers cannot be inside intake at once")
    import threading
    import uuid

    from sqlalchemy import text as sql

    from dispatch import intake
    from dispatch.inbound import InboundSms, store_inbound_sms

    ids = [
        store_inbound_sms(
            services.sessions,
            InboundSms.parse(
                message_sid="SM" + uuid.uuid4().hex,
                from_phone=STRANGER_PHONE,
                to_phone="+8657112345678",
                body=body,
                region="CN",
            ),
        ).message_id
        for body in ("有人吗", "我妈不舒服")
    ]
    real_attach = intake.attach_to_item
    first_inside, second_waits = threading.Event(), threading.Event()

    def hold_first(*args: Any, **kwargs: Any) -> TriageItem:
        item = real_attach(*args, **kwargs)
        if not first_inside.is_set():
            first_inside.set()  # worker A has made the item and holds it, not yet committed
            assert second_waits.wait(10), "worker B never reached the item"
        return item

    monkeypatch.setattr(intake, "attach_to_item", hold_first)

    def worker(message_id: int) -> None:
        with services.sessions.begin() as session:
            intake.handle_inbound_message(session, message_id, services.intake)

    a = threading.Thread(target=worker, args=(ids[0],))
    a.start()
    assert first_inside.wait(10)
    b = threading.Thread(target=worker, args=(ids[1],))
    b.start()
    for _ in range(200):  # bounded: until B waits on A's row lock (or its unique key), not for a span of time
        with services.engine.connect() as conn:
            if conn.execute(sql("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar():
                break
        threading.Event().wait(0.05)
    second_waits.set()
    a.join(20)
    b.join(20)
    [item] = items(services)
    with services.sessions() as session:
        joined = session.scalars(select(InboundMessage.triage_item_id).order_by(InboundMessage.id)).all()
    assert joined == [item.id, item.id] and item.status == TriageStatus.OPEN
