"""The care circle: family contacts told when a check-in goes unanswered and when someone is on their way, and
answering for their own resident, never another's.

Real parts: SQLite (or PostgreSQL), redis-server, RQ workers, the SMS webhook with Twilio's signature, the local
gateway; the phones are played by the test.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import care_circle
from dispatch.care_circle import ContactFields
from dispatch.checkins import missed_checkin_ladder
from dispatch.circle_replies import asks, family_answers
from dispatch.exceptions import InvalidAction
from dispatch.models import (
    CheckinEvent,
    CheckinStatus,
    CircleContact,
    OutboundMessage,
    Resident,
    TaskCategory,
    TaskPriority,
    TriageItem,
)
from hotline.services import Services
from tests.checkin_helpers import checkin_of, texts_to, tick
from tests.conftest import DUTY_PHONE, LIAISON_PHONE, PHONES, Clock, at, post_signed, run_worker, sms_params, tasks
from workers.queues import enqueue_send_many

DAUGHTER = "+8613700000001"  # 赵姐's daughter: 赵姐 never answers
SON = "+8613700000002"  # 吴叔's son
COUSIN = "+8613700000003"  # in 赵姐's circle, with no consent recorded
NEPHEW = "+8613700000004"  # in both circles


def add(
    services: Services,
    resident_id: int,
    name: str,
    relation: str,
    phone: str,
    consent: str = "in_person",
    tell_by: str = "sms",
) -> int:
    with services.sessions.begin() as session:
        resident = session.get(Resident, resident_id)
        assert resident is not None
        contact, outbound = care_circle.add_contact(
            session,
            resident,
            ContactFields(name, relation, phone, consent_way=consent, tell_by=tell_by),
            staff_name="社区 李文",
            region="CN",
            now=at("08:00"),
            catalog=services.catalog,
        )
        made = contact.id
    enqueue_send_many(services.redis, outbound)
    return made


def family_says(client: TestClient, services: Services, clock: Clock, hhmm: str, phone: str, body: str) -> None:
    clock.now = at(hhmm)
    assert post_signed(client, services, "/twilio/sms", sms_params(body, from_phone=phone)).status_code == 200
    run_worker(services)


def contact(services: Services, contact_id: int) -> CircleContact:
    with services.sessions() as session:
        found = session.get(CircleContact, contact_id)
        assert found is not None
        return found


def test_consent_is_needed_the_circle_holds_three_and_a_repeated_add_adds_one(
    services: Services, clock: Clock, town: dict[str, int]
) -> None:
    cousin = add(services, town["赵姐"], "赵磊", "表弟", COUSIN, consent="")
    run_worker(services)
    assert texts_to(services, COUSIN) == []  # no consent recorded: never messaged, not even welcomed
    with services.sessions.begin() as session:
        zhao = session.get(Resident, town["赵姐"])
        assert zhao is not None
        assert care_circle.tell_circle(session, zhao, "circle_no_answer", at("08:00"), services.intake, "t") == 0
        # Consent recorded later: the welcome goes then, once, naming the resident and how to opt out.
        found = session.get(CircleContact, cousin)
        assert found is not None
        fields = ContactFields("赵磊", "表弟", COUSIN, consent_way="by_phone")
        outbound = []
        for _ in range(2):
            outbound += care_circle.update_contact(
                session, found, fields, staff_name="社区 李文", region="CN", now=at("08:01"), catalog=services.catalog
            )
        assert (found.consent_way, found.consent_by) == ("by_phone", "社区 李文")
    enqueue_send_many(services.redis, outbound)
    run_worker(services)
    [welcome] = texts_to(services, COUSIN)
    assert "赵姐" in welcome and "退订" in welcome and "STOP" in welcome

    with services.sessions.begin() as session:
        zhao = session.get(Resident, town["赵姐"])
        assert zhao is not None
        for _ in range(2):  # a double click: one contact, one welcome
            _, outbound = care_circle.add_contact(
                session,
                zhao,
                ContactFields("赵芳", "女儿", "137 0000 0001", consent_way="in_person"),
                staff_name="社区 李文",
                region="CN",
                now=at("08:02"),
                catalog=services.catalog,
                request_key="form-1",
            )
            enqueue_send_many(services.redis, outbound)
    add(services, town["赵姐"], "赵强", "儿子", "+8613700000005")
    with pytest.raises(InvalidAction) as refused:
        add(services, town["赵姐"], "赵四", "侄子", NEPHEW)
    assert refused.value.key == "circle_full"
    with services.sessions() as session:
        assert len(care_circle.circle_of(session, town["赵姐"])) == 3
    run_worker(services)
    assert len(texts_to(services, DAUGHTER)) == 1
    assert texts_to(services, NEPHEW) == []


def test_the_circle_hears_of_a_missed_deadline_and_of_the_visit_once(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    add(services, town["赵姐"], "赵芳", "女儿", DAUGHTER)
    add(services, town["赵姐"], "赵磊", "表弟", COUSIN, consent="")
    gone = add(services, town["赵姐"], "赵强", "儿子", "+8613700000005")
    add(services, town["吴叔"], "吴刚", "儿子", SON)
    with services.sessions.begin() as session:
        gone_contact = session.get(CircleContact, gone)
        assert gone_contact is not None
        care_circle.opt_out(session, gone_contact, at("08:30"))
    tick(services, clock, "08:00")
    tick(services, clock, "09:00")
    tick(services, clock, "11:00")
    family_says(client, services, clock, "11:30", PHONES["吴叔"], "1")  # 吴叔 answers himself
    tick(services, clock, "12:00")
    notices = [t for t in texts_to(services, DAUGHTER) if "签到到时仍未回复" in t]
    assert len(notices) == 1 and "赵姐" in notices[0]
    assert not any("吴叔" in t for t in texts_to(services, DAUGHTER))  # nothing about anyone else
    assert [t for t in texts_to(services, SON) if "仍未回复" in t] == []  # 吴叔 answered
    assert texts_to(services, COUSIN) == []  # no consent
    assert [t for t in texts_to(services, "+8613700000005") if "仍未回复" in t] == []  # opted out

    # The ladder's visit step run again (a retried job): nothing more to the circle.
    checkin = checkin_of(services, town["赵姐"])
    with services.sessions.begin() as session:
        again = session.get(type(checkin), checkin.id)
        assert again is not None
        outbound = missed_checkin_ladder._visit(session, again, at("12:01"), services.intake)
    enqueue_send_many(services.redis, outbound)
    tick(services, clock, "12:02")
    assert len([t for t in texts_to(services, DAUGHTER) if "签到到时仍未回复" in t]) == 1
    with services.sessions() as session:
        decided = session.scalars(select(OutboundMessage.body).where(OutboundMessage.to_phone == DAUGHTER)).all()
    assert len([b for b in decided if "签到到时仍未回复" in b]) == 1

    # The liaison takes the visit: the circle hears someone is on the way, once, however often they say so.
    visit = next(t for t in tasks(services) if t.category == TaskCategory.VISIT and t.resident_id == town["赵姐"])
    family_says(client, services, clock, "12:05", LIAISON_PHONE, f"接{visit.id}")
    family_says(client, services, clock, "12:06", LIAISON_PHONE, f"接{visit.id}")
    on_the_way = [t for t in texts_to(services, DAUGHTER) if "正前往" in t]
    assert len(on_the_way) == 1 and "张敏" in on_the_way[0] and "赵姐" in on_the_way[0]
    with services.sessions.begin() as session:  # the hook run again (a retried job): nothing decided twice
        taken = session.get(type(visit), visit.id)
        assert taken is not None
        assert care_circle.tell_on_the_way(session, taken, "张敏", services.catalog) == []
    assert texts_to(services, COUSIN) == []


def test_a_family_member_answers_for_their_resident_fine_is_fine_only_when_clearly_fine(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    add(services, town["赵姐"], "赵芳", "女儿", DAUGHTER)
    add(services, town["吴叔"], "吴刚", "儿子", SON)
    tick(services, clock, "08:00")
    tick(services, clock, "09:00")

    family_says(client, services, clock, "09:30", DAUGHTER, "我在妈妈这里，她没事")
    zhao = checkin_of(services, town["赵姐"])
    assert zhao.status == CheckinStatus.FINE
    with services.sessions() as session:
        events = session.scalars(select(CheckinEvent).where(CheckinEvent.checkin_id == zhao.id)).all()
        assert [e.detail for e in events if e.kind == "family_answer"] == ["女儿 赵芳"]
        assert family_answers(session, [zhao.id]) == {zhao.id: "女儿 赵芳"}
    assert any("赵姐今天的签到记为平安" in t for t in texts_to(services, DAUGHTER))
    assert checkin_of(services, town["吴叔"]).status == CheckinStatus.SENT  # her answer is for her own only

    # Unclear words are never "fine": an urgent task for a person, and the check-in unwell.
    family_says(client, services, clock, "09:40", SON, "我在爸爸这里")
    wu = checkin_of(services, town["吴叔"])
    assert wu.status == CheckinStatus.UNWELL
    [task] = [t for t in tasks(services) if t.resident_id == town["吴叔"]]
    assert task.priority == TaskPriority.URGENT and task.assignee_liaison_id is not None
    assert "儿子 吴刚" in task.description
    assert any("跟进吴叔" in t for t in texts_to(services, SON))


def test_a_family_member_saying_unwell_makes_an_urgent_task(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    add(services, town["赵姐"], "赵芳", "女儿", DAUGHTER)
    tick(services, clock, "08:00")
    tick(services, clock, "09:00")
    family_says(client, services, clock, "09:30", DAUGHTER, "妈妈好像摔了一跤，她说没事")
    assert checkin_of(services, town["赵姐"]).status == CheckinStatus.UNWELL
    [task] = tasks(services)
    assert (task.category, task.priority, task.resident_id) == (TaskCategory.UNWELL, TaskPriority.URGENT, town["赵姐"])


def test_a_number_in_one_circle_cannot_answer_for_another_resident_and_several_waiting_go_to_staff(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    add(services, town["赵姐"], "赵芳", "女儿", DAUGHTER)
    add(services, town["赵姐"], "阿明", "侄子", NEPHEW)
    add(services, town["吴叔"], "阿明", "侄子", NEPHEW)
    tick(services, clock, "08:00")
    tick(services, clock, "09:00")
    family_says(client, services, clock, "09:05", PHONES["赵姐"], "1")  # 赵姐 answers herself

    # 赵姐's daughter says "fine" while nothing of hers waits: staff read it; 吴叔 is not answered for.
    family_says(client, services, clock, "09:10", DAUGHTER, "他没事")
    assert checkin_of(services, town["吴叔"]).status == CheckinStatus.SENT
    assert not any("吴叔" in t for t in texts_to(services, DAUGHTER))
    with services.sessions() as session:
        assert session.scalar(select(TriageItem.phone).where(TriageItem.phone == DAUGHTER)) == DAUGHTER

    # The nephew is in both circles: only 吴叔's check-in waits, but his "平安" may be about 赵姐. Not guessed:
    # staff read it.
    family_says(client, services, clock, "09:20", NEPHEW, "平安")
    assert checkin_of(services, town["吴叔"]).status == CheckinStatus.SENT
    with services.sessions() as session:
        assert session.scalar(select(TriageItem.phone).where(TriageItem.phone == NEPHEW)) == NEPHEW
    assert any("转给社区工作人员" in t for t in texts_to(services, NEPHEW))
    assert tasks(services) == []


def test_both_waiting_is_for_staff_and_td_opts_out_of_every_circle(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    first = add(services, town["赵姐"], "阿明", "侄子", NEPHEW)
    second = add(services, town["吴叔"], "阿明", "侄子", NEPHEW)
    tick(services, clock, "08:00")
    tick(services, clock, "09:00")
    family_says(client, services, clock, "09:10", NEPHEW, "平安")
    assert checkin_of(services, town["赵姐"]).status == CheckinStatus.SENT  # not guessed
    assert checkin_of(services, town["吴叔"]).status == CheckinStatus.SENT
    with services.sessions() as session:
        assert session.scalar(select(TriageItem.phone).where(TriageItem.phone == NEPHEW)) == NEPHEW

    family_says(client, services, clock, "09:20", NEPHEW, "TD")
    assert contact(services, first).opted_out_at is not None and contact(services, second).opted_out_at is not None
    assert any("您已退订" in t for t in texts_to(services, NEPHEW))
    before = len(texts_to(services, NEPHEW))
    tick(services, clock, "11:00")
    tick(services, clock, "12:00")
    assert len(texts_to(services, NEPHEW)) == before  # honoured: no deadline notice
    with services.sessions.begin() as session, pytest.raises(InvalidAction) as refused:
        zhao = session.get(Resident, town["赵姐"])
        assert zhao is not None
        care_circle.remove(session, session.get(CircleContact, first), at("12:10"))  # type: ignore[arg-type]
        care_circle.add_contact(
            session,
            zhao,
            ContactFields("阿明", "侄子", NEPHEW, consent_way="in_person"),
            staff_name="社区 李文",
            region="CN",
            now=at("12:10"),
            catalog=services.catalog,
        )
    assert refused.value.key == "circle_was_opted_out"


@pytest.mark.parametrize("body", ["她没事吧？", "妈妈没事吧", "妈妈还好吧？", "is she ok?", "is mum ok?"])
def test_a_worried_question_from_the_family_is_never_fine_but_an_urgent_task(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int], body: str
) -> None:
    add(services, town["赵姐"], "赵芳", "女儿", DAUGHTER)
    tick(services, clock, "08:00")
    tick(services, clock, "09:00")
    family_says(client, services, clock, "09:30", DAUGHTER, body)
    assert checkin_of(services, town["赵姐"]).status == CheckinStatus.UNWELL
    [task] = tasks(services)
    assert (task.category, task.priority, task.resident_id) == (TaskCategory.UNWELL, TaskPriority.URGENT, town["赵姐"])
    assert not any("记为平安" in t for t in texts_to(services, DAUGHTER))


@pytest.mark.parametrize("body", ["平安", "FINE", "她很好。"])
def test_a_family_member_stating_the_resident_is_fine_answers_fine(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int], body: str
) -> None:
    add(services, town["赵姐"], "赵芳", "女儿", DAUGHTER)
    tick(services, clock, "08:00")
    tick(services, clock, "09:00")
    family_says(client, services, clock, "09:30", DAUGHTER, body)
    assert checkin_of(services, town["赵姐"]).status == CheckinStatus.FINE
    assert tasks(services) == []


def set_duty_phone(services: Services, resident_id: int) -> None:
    with services.sessions.begin() as session:
        resident = session.get(Resident, resident_id)
        assert resident is not None and resident.household.community is not None
        resident.household.community.duty_phone = DUTY_PHONE


@pytest.mark.parametrize("body", ["她头晕", "is she ok?", "阿姨在哪"])
def test_unwell_or_unclear_words_from_a_number_in_several_circles_reach_duty_staff_at_once(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int], body: str
) -> None:
    add(services, town["赵姐"], "阿明", "侄子", NEPHEW)
    add(services, town["吴叔"], "阿明", "侄子", NEPHEW)
    set_duty_phone(services, town["赵姐"])
    tick(services, clock, "08:00")
    tick(services, clock, "09:00")
    family_says(client, services, clock, "09:10", NEPHEW, body)
    [task] = tasks(services)  # whose is not guessed: a task with no household, straight to the duty phone
    assert (task.category, task.priority, task.household_id, task.status) == ("unwell", "urgent", None, "escalated")
    assert body in task.description and "赵姐" in task.description and "吴叔" in task.description
    assert len(texts_to(services, DUTY_PHONE)) == 1
    assert checkin_of(services, town["赵姐"]).status == CheckinStatus.SENT  # neither check-in is answered
    assert checkin_of(services, town["吴叔"]).status == CheckinStatus.SENT
    [reply] = [t for t in texts_to(services, NEPHEW) if "已收到" in t]
    assert "跟进" in reply and "赵姐" in reply and "吴叔" in reply


def test_unwell_words_with_no_check_in_waiting_are_an_urgent_task_for_the_one_resident(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    add(services, town["赵姐"], "赵芳", "女儿", DAUGHTER)
    family_says(client, services, clock, "07:00", DAUGHTER, "妈妈头晕")  # before any check-in is sent
    [task] = tasks(services)
    assert (task.category, task.priority, task.resident_id) == (TaskCategory.UNWELL, TaskPriority.URGENT, town["赵姐"])
    assert any("跟进赵姐" in t for t in texts_to(services, DAUGHTER))


def test_a_question_is_told_from_a_statement() -> None:
    questions = ["她没事吧？", "妈妈没事吧", "妈妈还好吗", "is she ok?", "Is mum OK", "她好不好", "妈妈呢"]
    questions.append("how is dad")
    for question in questions:
        assert asks(question), question
    for statement in ["我在妈妈这里，她没事", "平安", "FINE", "she is fine", "我是她女儿，她很好。", "mum is ok"]:
        assert not asks(statement), statement
