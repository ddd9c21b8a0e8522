"""Who is calling, read from the register as plain rows for a batch of calls: shared numbers, landlines, moved-away
residents and a liaison who is both primary and backup read as the register says."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dispatch.ivr.batch_reads import look_up_numbers
from dispatch.ivr.calls import Caller, Person, identify_caller
from dispatch.models import Household, Liaison, Resident, ResidentPhone, ResidentStatus
from hotline.services import Services
from tests.conftest import BACKUP_PHONE, DUTY_PHONE, LIAISON_PHONE, RESIDENT_PHONE, STRANGER_PHONE

pytestmark = pytest.mark.usefixtures("community")
LANDLINE = "+8613600000003"  # a mobile-looking number the register says is a landline
SHARED = "+8613600000001"  # a current resident's and a moved-away one's, in different households
TWO_HOMES = "+8613600000002"  # two current residents', in different households


def callers(services: Services, phones: list[str]) -> dict[str, Caller]:
    """Each number's caller, as a batch of calls reads them: the register read once for all of them."""
    with services.sessions.begin() as session:
        numbers = look_up_numbers(session, phones)
        return {
            p: identify_caller(session, p, region="CN", language="zh-CN", duty_phone=None, numbers=numbers)
            for p in phones
        }


def test_callers_read_for_a_batch_are_who_the_register_says(services: Services) -> None:
    with services.sessions.begin() as session:
        liang = session.scalars(select(Resident).where(Resident.name == "梁阿姨")).one()
        home = liang.household
        zhang = session.scalars(select(Liaison).where(Liaison.phone == LIAISON_PHONE)).one()
        one_liaison = Household(community_id=home.community_id, primary_liaison=zhang, backup_liaison=zhang)
        elsewhere = Household(community_id=home.community_id, primary_liaison=zhang)

        def resident(name: str, household: Household, phone: str, **fields: object) -> None:
            landline = bool(fields.pop("landline", False))
            person = Resident(name=name, household=household, **fields)
            person.phones = [ResidentPhone(phone=phone, landline=landline)]
            session.add(person)

        resident("梁叔", home, RESIDENT_PHONE)  # her husband, on her number
        resident("孙爷爷", one_liaison, LANDLINE, landline=True)
        resident("周阿姨", one_liaison, SHARED, status=ResidentStatus.MOVED_AWAY)
        resident("吴叔", elsewhere, SHARED)
        resident("郑阿婆", one_liaison, TWO_HOMES)
        resident("钱伯", elsewhere, TWO_HOMES)

    found = callers(services, [RESIDENT_PHONE, LANDLINE, SHARED, TWO_HOMES, STRANGER_PHONE, LIAISON_PHONE])

    liaison, backup, duty = Person("liaison", "张敏", LIAISON_PHONE), Person("backup", "李强", BACKUP_PHONE), DUTY_PHONE
    couple = found[RESIDENT_PHONE]
    assert (couple.kind, couple.name, couple.resident_id, couple.can_sms) == ("resident", "梁阿姨、梁叔", None, True)
    assert couple.household_id == home.id and couple.liaison_name == "张敏"
    assert couple.people[:2] == (liaison, backup) and couple.people[2].phone == duty
    sun = found[LANDLINE]
    assert sun.kind == "resident" and sun.name == "孙爷爷" and sun.resident_id is not None
    assert not sun.can_sms  # a landline takes no SMS
    assert [p.role for p in sun.people] == ["liaison", "duty"]  # one liaison as primary and backup: once
    wu = found[SHARED]
    assert wu.name == "吴叔" and wu.household_id == elsewhere.id  # the moved-away resident does not count
    two = found[TWO_HOMES]
    assert two.name == "郑阿婆、钱伯" and two.household_id is None  # no one household: no liaison of theirs
    assert two.community_id == home.community_id and [p.role for p in two.people] == ["duty"]
    assert found[STRANGER_PHONE].kind == "unknown"
    assert found[LIAISON_PHONE].kind == "liaison" and found[LIAISON_PHONE].name == "张敏"
