"""The register in the console: search, one resident, edits of their fields, liaisons and plan, each within the
staff member's scope and recorded in the audit log. Import and export: `test_console_register_csv`; the last 14
days: `test_console_register_history`."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import CheckinPlan, Household, Liaison, Resident
from dispatch.register.search import search_residents
from dispatch.staff_accounts import household_scope
from hotline.services import Services
from tests.conftest import Clock
from tests.console_register_helpers import ADMIN, Principal, as_user, audit_entries, found, make_people


@pytest.fixture
def people(services: Services) -> dict[str, int]:
    return make_people(services)


def test_search_by_name_phone_in_any_format_and_address(client: TestClient, people: dict[str, int]) -> None:
    as_user(client, "admin")
    liang = people["梁阿姨"]
    assert found(client.get("/register", params={"q": "梁"}).text) == {liang}
    for phone in ("138 0013 8000", "+86 138-0013-8000", "13800138000", "8000"):
        assert found(client.get("/register", params={"q": phone}).text) == {liang}, phone
    assert found(client.get("/register", params={"q": "3号楼 402"}).text) == {liang}
    assert found(client.get("/register", params={"q": "3-2-402"}).text) == {liang}
    assert found(client.get("/register", params={"q": "9号楼"}).text) == {people["王大爷"]}
    everyone = client.get("/register")
    assert found(everyone.text) == {people[n] for n in ("梁阿姨", "王大爷", "赵奶奶")}
    assert "138****8000" in everyone.text and "13800138000" not in everyone.text  # the list masks numbers
    assert "没有找到" in client.get("/register", params={"q": "不存在的人"}).text


def test_search_stays_within_scope_and_pages(client: TestClient, services: Services, people: dict[str, int]) -> None:
    as_user(client, "clerk")
    assert found(client.get("/register").text) == {people["梁阿姨"], people["王大爷"]}
    assert found(client.get("/register", params={"q": "13800138002"}).text) == set()  # 赵奶奶, another community
    as_user(client, "leader1")
    assert found(client.get("/register").text) == {people["梁阿姨"]}
    assert found(client.get("/register", params={"q": "8001"}).text) == set()  # 王大爷, grid 2
    with services.readonly() as session:
        first = search_residents(session, household_scope(ADMIN), "", region="CN", limit=2)
        rest = search_residents(session, household_scope(ADMIN), "", region="CN", limit=2, offset=2)
    assert len(first) == 2 and len(rest) == 1
    assert {r.name for r in first + rest} == {"梁阿姨", "王大爷", "赵奶奶"}


def test_one_resident_shows_everything_and_records_the_view(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    as_user(client, "leader1")
    page = client.get(f"/register/residents/{people['梁阿姨']}")
    assert page.status_code == 200
    text = page.text
    assert "138 0013 8000" in text and 'href="tel:+8613800138000"' in text  # staff see the number in full
    assert "张敏" in text and "李强" in text and "幸福里社区 3号楼 2单元 402" in text and "第1网格" in text
    assert 'action="/calls"' in text and f'name="resident_id" value="{people["梁阿姨"]}"' in text
    views = audit_entries(services, "view")
    assert [(e.object_kind, e.object_id, e.actor_name) for e in views] == [("resident", people["梁阿姨"], "leader1")]


def test_another_grids_resident_is_404_exactly_like_a_missing_one(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    token = as_user(client, "leader1")
    other, missing = people["王大爷"], 999_999
    for path in ("/register/residents/{}", "/register/residents/{}/edit"):
        refused, absent = client.get(path.format(other)), client.get(path.format(missing))
        assert refused.status_code == absent.status_code == 404
        same_path = refused.text.replace(path.format(other), path.format(missing))  # the page names its own path
        assert same_path == absent.text and "王大爷" not in refused.text
    posted = client.post(f"/register/residents/{other}/edit", data={**edit_form(), "name": "改名", "csrf_token": token})
    assert posted.status_code == 404
    as_user(client, "clerk")
    assert client.get(f"/register/residents/{people['赵奶奶']}").status_code == 404
    with services.readonly() as session:
        assert session.get(Resident, other).name == "王大爷"  # type: ignore[union-attr]
    assert audit_entries(services) == []  # nothing seen, nothing changed


def edit_form(**changes: str | list[str]) -> dict[str, str | list[str]]:
    """梁阿姨's edit form as the page fills it in, with `changes`."""
    form: dict[str, str | list[str]] = {
        "name": "梁阿姨",
        "phones": "138 0013 8000",
        "language": "zh-CN",
        "channel": "sms",
        "categories": [],
        "risk": "none",
        "emergency_contact_name": "",
        "emergency_contact_phone": "",
        "notes": "",
        "status": "active",
        "plan_mode": "default",
        "plan_times": "",
        "plan_channel": "",
        "plan_ends_on": "",
    }
    form.update(changes)
    return form


def liaisons_of(people: dict[str, int], primary: str = "张敏", backup: str = "李强") -> dict[str, str]:
    return {"primary_liaison": str(people[primary]) if primary else "", "backup_liaison": str(people[backup])}


def test_an_edit_changes_the_fields_and_audits_their_names_only(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    token = as_user(client, "clerk")
    liang = people["梁阿姨"]
    form = client.get(f"/register/residents/{liang}/edit")
    assert form.status_code == 200 and 'value="138 0013 8000"' in form.text
    response = client.post(
        f"/register/residents/{liang}/edit",
        data={
            **edit_form(
                phones="13800138000; 0371-6688 1234",
                categories=["elderly_alone", "chronically_ill"],
                risk="red",
                notes="高血压，每天吃药",
                emergency_contact_phone="+1 650 253 0000",
            ),
            **liaisons_of(people),
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == f"/register/residents/{liang}?saved=1"
    with services.readonly() as session:
        resident = session.get(Resident, liang)
        assert resident is not None
        assert [(p.phone, p.landline) for p in resident.phones] == [("+8613800138000", False), ("+8637166881234", True)]
        assert resident.categories == ["chronically_ill", "elderly_alone"] and resident.risk == "red"
        assert resident.notes == "高血压，每天吃药" and resident.emergency_contact_phone == "+16502530000"
    edits = audit_entries(services, "edit")
    assert [(e.object_kind, e.object_id, e.actor_name) for e in edits] == [("resident", liang, "clerk")]
    assert edits[0].detail == "phones, categories, risk, emergency_contact_phone, notes"
    assert "高血压" not in edits[0].detail and not re.search(r"\d", edits[0].detail)
    # The same form again changes nothing and records nothing.
    again = client.post(
        f"/register/residents/{liang}/edit",
        follow_redirects=False,
        data={
            **edit_form(
                phones="13800138000; 0371-6688 1234",
                categories=["elderly_alone", "chronically_ill"],
                risk="red",
                notes="高血压，每天吃药",
                emergency_contact_phone="+1 650 253 0000",
            ),
            **liaisons_of(people),
            "csrf_token": token,
        },
    )
    assert again.status_code == 303 and len(audit_entries(services, "edit")) == 1
    assert "已保存" in client.get(again.headers["location"]).text


def test_a_bad_phone_changes_nothing_and_is_shown_beside_the_field(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    token = as_user(client, "admin")
    liang = people["梁阿姨"]
    response = client.post(
        f"/register/residents/{liang}/edit",
        data={
            **edit_form(name="梁秀英", phones="12345", risk="red", plan_mode="own", plan_times="09:00"),
            **liaisons_of(people, "李强", "张敏"),
            "csrf_token": token,
        },
    )
    assert response.status_code == 400
    assert re.search(r'id="f-phones"[^>]*>.*?<span class="error" id="err-phones">有号码无法识别', response.text, re.S)
    assert 'value="梁秀英"' in response.text and 'value="12345"' in response.text  # what was typed stays
    with services.readonly() as session:
        resident = session.get(Resident, liang)
        assert resident is not None and resident.name == "梁阿姨" and resident.risk == "none"
        assert [p.phone for p in resident.phones] == ["+8613800138000"]
        household = resident.household
        assert (household.primary_liaison_id, household.backup_liaison_id) == (people["张敏"], people["李强"])
        assert session.scalar(select(func.count()).select_from(CheckinPlan)) == 0
    assert audit_entries(services, "edit") == []


def test_liaisons_and_plan_are_changed_from_the_form(
    client: TestClient, services: Services, people: dict[str, int], clock: Clock
) -> None:
    token = as_user(client, "leader1")
    liang = people["梁阿姨"]
    form = client.get(f"/register/residents/{liang}/edit").text
    assert "李强" in form and "王五" not in form  # only liaisons the grid leader may assign
    swapped = client.post(
        f"/register/residents/{liang}/edit",
        follow_redirects=False,
        data={
            **edit_form(plan_mode="own", plan_times="9:00, 15:30", plan_channel="voice"),
            **liaisons_of(people, "李强", "张敏"),
            "csrf_token": token,
        },
    )
    assert swapped.status_code == 303
    with services.readonly() as session:
        household = session.scalars(select(Household).join(Resident).where(Resident.id == liang)).one()
        assert (household.primary_liaison_id, household.backup_liaison_id) == (people["李强"], people["张敏"])
        plan = session.scalars(select(CheckinPlan)).one()
        assert plan.times == ["09:00", "15:30"] and plan.channel == "voice"
    assert sorted(e.detail for e in audit_entries(services, "edit")) == ["plan", "primary_liaison, backup_liaison"]
    # Another grid's liaison, a time in quiet hours, the same person twice: refused, field by field.
    refused = client.post(
        f"/register/residents/{liang}/edit",
        data={
            **edit_form(plan_mode="own", plan_times="23:30"),
            **liaisons_of(people, "王五", "王五"),
            "csrf_token": token,
        },
    )
    assert refused.status_code == 400
    for field, words in (("primary_liaison", "不在您的范围内"), ("plan_times", "免打扰"), ("backup_liaison", "")):
        assert f'id="err-{field}">' in refused.text and words in refused.text
    with services.readonly() as session:
        assert session.scalars(select(CheckinPlan)).one().times == ["09:00", "15:30"]
        household = session.scalars(select(Household).join(Resident).where(Resident.id == liang)).one()
        assert household.primary_liaison_id == people["李强"]
    with services.sessions.begin() as session:  # a liaison stopped meanwhile may stay while the rest is saved
        session.get(Liaison, people["张敏"]).active = False  # type: ignore[union-attr]
    back = client.post(
        f"/register/residents/{liang}/edit",
        follow_redirects=False,
        data={**edit_form(), **liaisons_of(people, "李强", "张敏"), "csrf_token": token},
    )
    assert back.status_code == 303
    with services.readonly() as session:
        assert session.scalar(select(func.count()).select_from(CheckinPlan)) == 0  # back on the default
    moved = client.post(
        f"/register/residents/{liang}/edit",
        data={**edit_form(), **liaisons_of(people, "张敏", "李强"), "csrf_token": token},
    )
    assert moved.status_code == 400 and 'id="err-primary_liaison">' in moved.text  # but not be made primary


def test_a_grid_leader_cannot_assign_a_liaison_of_another_grid_by_id(
    services: Services, people: dict[str, int]
) -> None:
    with services.readonly() as session:
        grid1 = session.scalar(select(Liaison.grid_id).where(Liaison.id == people["张敏"]))
    leader = Principal("grid_leader", grid_id=grid1)
    with services.sessions() as session:
        with pytest.raises(register.EditRefused) as refused:
            register.set_liaisons(
                session,
                people["梁阿姨"],
                primary_id=people["王五"],
                backup_id=None,
                actor=leader,
                where=household_scope(leader),
            )
        assert [(p.field, p.code) for p in refused.value.problems] == [("primary_liaison", "not_assignable")]
        assert {x.name for x in register.assignable_liaisons(session, household_scope(leader))} == {"张敏", "李强"}
        everyone = {x.name for x in register.assignable_liaisons(session, household_scope(ADMIN))}
        assert everyone == {"张敏", "李强", "王五"}
