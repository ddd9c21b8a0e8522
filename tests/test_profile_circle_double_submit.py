"""Two saves of the same resident at the same moment (a double click, a retry): the voice profile's first save
makes one row and no error; two care-circle adds never make a fourth contact, nor the same number twice. On
PostgreSQL each request's INSERT is held until the other reaches its own, so both have read before either writes,
unless the resident's row lock puts the second behind the first."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from sqlalchemy import event, func, select

from dispatch import care_circle
from dispatch.care_circle import ContactFields
from dispatch.exceptions import InvalidAction
from dispatch.ivr.hearing import Profile
from dispatch.models import AuditEntry, CircleContact, Resident, StaffUser, VoiceProfile
from dispatch.register.hearing_profiles import set_profile
from dispatch.staff_accounts import household_scope
from hotline.services import Services
from tests.conftest import at
from tests.console_helpers import make_user
from tests.test_people_double_submit import inserts_meet


def at_once(services: Services, table: str, acts: list[Callable[[Any], Any]]) -> tuple[list[Any], list[BaseException]]:
    """Run each act in its own transaction at the same moment: what they returned, and what they raised."""
    results: list[Any] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(acts))

    def run(act: Callable[[Any], Any]) -> None:
        try:
            start.wait(10)
            with services.sessions.begin() as session:
                results.append(act(session))
        except Exception as exc:  # returned, for the test to judge
            errors.append(exc)

    with inserts_meet(services, table):
        threads = [threading.Thread(target=run, args=(act,)) for act in acts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    return results, errors


def resident_id(services: Services) -> int:
    with services.sessions() as session:
        found = session.scalar(select(Resident.id).where(Resident.name == "梁阿姨"))
        assert found is not None
        return found


def test_the_first_voice_profile_save_sent_twice_at_once_makes_one_row(services: Services, community: None) -> None:
    make_user(services)
    rid = resident_id(services)

    def save(session: Any) -> list[str]:
        admin = session.scalars(select(StaffUser).where(StaffUser.username == "admin")).one()
        return set_profile(session, rid, Profile(slower=True, louder=True), actor=admin, where=household_scope(admin))

    results, errors = at_once(services, "voice_profiles", [save, save])
    assert errors == [], errors
    assert sorted(results) == [[], ["slower", "louder"]]  # the second found the first's save: nothing changed
    with services.sessions() as session:
        rows = session.scalars(select(VoiceProfile).where(VoiceProfile.resident_id == rid)).all()
        edits = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.detail.like("voice profile:%"))
        )
    assert [(r.slower, r.louder) for r in rows] == [(True, True)] and edits == 1


def _add(services: Services, rid: int, name: str, phone: str) -> Callable[[Any], Any]:
    def add(session: Any) -> int:
        resident = session.get(Resident, rid)
        contact, _ = care_circle.add_contact(
            session,
            resident,
            ContactFields(name, "女儿", phone, consent_way="in_person"),
            staff_name="社区 李文",
            region="CN",
            now=at("08:00"),
            catalog=services.catalog,
            request_key=f"key-{name}",
        )
        return int(contact.id)

    return add


def circle(services: Services, rid: int) -> list[str]:
    with services.sessions() as session:
        return [c.phone for c in care_circle.circle_of(session, rid)]


def test_two_care_circle_adds_at_once_never_make_a_fourth_contact(services: Services, community: None) -> None:
    rid = resident_id(services)
    for act in (_add(services, rid, "大女儿", "+8613700000001"), _add(services, rid, "二女儿", "+8613700000002")):
        with services.sessions.begin() as session:
            act(session)
    third, fourth = _add(services, rid, "儿子", "+8613700000003"), _add(services, rid, "侄子", "+8613700000004")
    results, errors = at_once(services, "circle_contacts", [third, fourth])
    assert len(results) == 1 and [getattr(e, "key", None) for e in errors] == ["circle_full"], errors
    assert all(isinstance(e, InvalidAction) for e in errors)
    assert len(circle(services, rid)) == 3


def test_two_care_circle_adds_of_one_number_at_once_add_it_once(services: Services, community: None) -> None:
    rid = resident_id(services)
    first, again = _add(services, rid, "大女儿", "+8613700000001"), _add(services, rid, "女儿", "+8613700000001")
    results, errors = at_once(services, "circle_contacts", [first, again])
    assert len(results) == 1 and [getattr(e, "key", None) for e in errors] == ["circle_same_phone"], errors
    with services.sessions() as session:
        count = session.scalar(select(func.count()).select_from(CircleContact).where(CircleContact.resident_id == rid))
    assert count == 1 and circle(services, rid) == ["+8613700000001"]


def test_a_new_number_and_an_add_of_that_number_at_once_put_it_in_the_circle_once(
    services: Services, community: None
) -> None:
    """A contact's number changed while another member of staff adds the same number: one of them is refused. On
    PostgreSQL the change's UPDATE and the add's INSERT are held until the other reaches its own, unless the
    resident's row lock puts the second behind the first."""
    rid = resident_id(services)
    with services.sessions.begin() as session:
        contact_id = _add(services, rid, "大女儿", "+8613700000001")(session)

    def renumber(session: Any) -> int:
        contact = care_circle.contact_of(session, rid, contact_id)
        assert contact is not None
        fields = ContactFields("大女儿", "女儿", "+8613700000002", consent_way="in_person")
        care_circle.update_contact(
            session, contact, fields, staff_name="社区 李文", region="CN", now=at("08:05"), catalog=services.catalog
        )
        return contact_id

    meeting = threading.Barrier(2)

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith(("INSERT INTO circle_contacts ", "UPDATE circle_contacts SET phone")):
            with suppress(threading.BrokenBarrierError):
                meeting.wait(timeout=3)

    event.listen(services.engine, "before_cursor_execute", before)
    try:
        results, errors = at_once(services, "none", [renumber, _add(services, rid, "二女儿", "+8613700000002")])
    finally:
        event.remove(services.engine, "before_cursor_execute", before)
    assert len(results) == 1 and [getattr(e, "key", None) for e in errors] == ["circle_same_phone"], errors
    assert sorted(circle(services, rid)).count("+8613700000002") == 1
