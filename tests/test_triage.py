"""Messages from numbers not on the register reach staff: each number's messages (SMS, and a caller's choices and
voicemails) gather in one triage item on the board of the community that was texted, or the hotline's only one;
staff close it with a note, audited and safe to repeat (linking and registering from an item: in
test_triage_linking.py). Driven through the signed webhooks and a real worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.exceptions import InvalidAction, NotFound
from dispatch.models import InboundMessage, InboundOutcome, StaffRole, TaskCategory, TriageItem, TriageStatus
from dispatch.staff_accounts import household_scope
from dispatch.triage import actions
from dispatch.triage.items import triage_scope
from dispatch.triage.views import item_detail, open_items
from hotline.services import Services
from tests.callflow import CallFlow
from tests.conftest import RESIDENT_PHONE, STRANGER_PHONE, run_worker, sent_to, tasks
from tests.triage_helpers import HOME, act, audit_log, counts, items, staff, text

OTHER, OTHER_DUTY = "光明社区", "+8657100000002"


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


def test_two_messages_of_one_number_handled_at_once_make_one_item(
    services: Services, community: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if services.engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers, so two workers cannot be inside intake at once")
    import threading
    import uuid

    from sqlalchemy import text as sql

    from dispatch import intake, intake_batch
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
            intake_batch.handle_inbound_message(session, message_id, services.intake)

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
