"""The register's liaisons in the console (`/people/liaisons…`): admins keep every one, a clerk their own
community's; stopping one shows first which households pass to a backup and which are left with no one, and the
uncovered ones stay listed afterwards."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import AuditEntry, Household, Liaison, StaffRole
from hotline.services import Services
from tests.console_helpers import make_user, sign_in

A, B = "幸福里社区", "光明社区"


@pytest.fixture
def town(services: Services) -> dict[str, int]:
    """Community A, grid 1: 张敏 serves 梁阿姨 (backup 李强) and 王大爷 (backup 钱伟, who has stopped). Community B:
    陈刚 serves 赵奶奶."""
    with services.sessions.begin() as session:
        for name, phone in (("张敏", "13912345678"), ("李强", "13912345679"), ("陈刚", "13912345680")):
            register.add_liaison(session, name=name, phone=phone, region="CN")
        stopped = register.add_liaison(session, name="钱伟", phone="13912345681", region="CN")
        people = {}
        for name, phone, primary, backup, community, room in (
            ("梁阿姨", "13800138000", "13912345678", "13912345679", A, "101"),
            ("王大爷", "13800138001", "13912345678", "13912345681", A, "102"),
            ("赵奶奶", "13800138002", "13912345680", None, B, "101"),
        ):
            resident = register.add_resident(
                session,
                name=name,
                phones=[phone],
                liaison_phone=primary,
                backup_liaison_phone=backup,
                address=register.Address(community, "1号楼", "1单元", room),
                region="CN",
            )
            assert resident.household.community is not None
            resident.household.grid = register.find_or_create_grid(session, resident.household.community, "一网格")
            people[name] = resident.household_id
        stopped.active = False
        for liaison in session.scalars(select(Liaison)):
            people[liaison.name] = liaison.id
        people["grid_a"] = register.find_or_create_grid(
            session, register.find_or_create_community(session, A), "一网格"
        ).id
        people["grid_b"] = register.find_or_create_grid(
            session, register.find_or_create_community(session, B), "一网格"
        ).id
    make_user(services, "admin", StaffRole.ADMIN)
    make_user(services, "clerk_a", StaffRole.CLERK, community=A)
    return people


def liaison(services: Services, liaison_id: int) -> Liaison:
    with services.readonly() as session:
        found = session.get(Liaison, liaison_id)
        assert found is not None
        session.expunge(found)
        return found


def household(services: Services, household_id: int) -> tuple[str | None, str | None]:
    """The household's primary and backup liaison, by name."""
    with services.readonly() as session:
        found = session.get(Household, household_id)
        assert found is not None
        names = (found.primary_liaison, found.backup_liaison)
        return names[0].name if names[0] else None, names[1].name if names[1] else None


def audit_of(services: Services, kind: str = "liaison") -> list[tuple[str, int | None, str]]:
    with services.readonly() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.object_kind == kind).order_by(AuditEntry.id))
        return [(e.action, e.object_id, e.actor_name) for e in rows]


def test_stopping_a_liaison_shows_who_passes_to_a_backup_and_who_is_left_then_does_it_once(
    client: TestClient, services: Services, town: dict[str, int]
) -> None:
    csrf = sign_in(client, "clerk_a")
    path = f"/people/liaisons/{town['张敏']}/deactivate"
    preview = client.get(path)
    assert preview.status_code == 200
    moved = preview.text.split('id="to-backup"')[1].split("</section>")[0]
    left = preview.text.split('id="left-uncovered"')[1].split("</section>")[0]
    assert "梁阿姨" in moved and "李强" in moved and "王大爷" not in moved
    assert "王大爷" in left and "梁阿姨" not in left
    assert liaison(services, town["张敏"]).active and audit_of(services) == []  # the preview changes nothing

    done = client.post(path, data={"csrf_token": csrf})
    assert done.status_code == 200 and "张敏 已停用" in done.text
    assert not liaison(services, town["张敏"]).active
    assert household(services, town["梁阿姨"]) == ("李强", None)
    assert household(services, town["王大爷"]) == (None, "钱伟")
    assert audit_of(services) == [("deactivate", town["张敏"], "clerk_a")]

    again = client.post(path, data={"csrf_token": csrf})  # a second click: nothing more happens
    assert again.status_code == 200 and "已经停用过了" in again.text
    assert audit_of(services) == [("deactivate", town["张敏"], "clerk_a")]
    assert household(services, town["梁阿姨"]) == ("李强", None)

    # The household left with no one stays listed as uncovered, as `hotline assign` counts it.
    listing = client.get("/people/liaisons").text
    uncovered = listing.split('id="uncovered"')[1].split("</section>")[0]
    assert "王大爷" in uncovered and "梁阿姨" not in uncovered and "赵奶奶" not in uncovered
    with services.readonly() as session:
        report = register.coverage_report(session)
    assert [h.id for h in report.households_without_liaison] == [town["王大爷"]]


def test_adding_and_editing_a_liaison_is_checked_whole_and_a_second_click_adds_nothing(
    client: TestClient, services: Services, town: dict[str, int]
) -> None:
    csrf = sign_in(client, "admin")
    form = {"name": "周红", "phone": "139 1234 0001", "grid": str(town["grid_a"]), "csrf_token": csrf}
    for _ in range(2):
        added = client.post("/people/liaisons", data=form, follow_redirects=False)
        assert added.status_code == 303
    with services.readonly() as session:
        found = session.scalars(select(Liaison).where(Liaison.name == "周红")).all()
        assert [(x.phone, x.grid_id) for x in found] == [("+8613912340001", town["grid_a"])]
        new_id = found[0].id
    assert audit_of(services) == [("create", new_id, "admin")]
    listing = client.get("/people/liaisons").text
    assert "139 1234 0001" in listing and "+8613912340001" not in listing  # national format

    bad = client.post("/people/liaisons", data={**form, "name": "", "phone": "12345"})
    assert bad.status_code == 400
    assert "必填" in bad.text and "不是有效的本国号码" in bad.text
    taken = client.post("/people/liaisons", data={**form, "name": "别人", "phone": "13912345679"})
    assert taken.status_code == 400 and "另一位联络员已经用了这个号码" in taken.text

    edit = f"/people/liaisons/{new_id}/edit"
    assert 'value="139 1234 0001"' in client.get(edit).text
    refused = client.post(edit, data={**form, "name": "周红红", "phone": "13912345678"})  # 张敏's number
    assert refused.status_code == 400 and liaison(services, new_id).name == "周红"  # nothing half-written
    same = {**form, "name": "周红红", "phone": "13912340002", "grid": ""}
    saved = client.post(edit, data=same, follow_redirects=False)
    assert saved.status_code == 303
    changed = liaison(services, new_id)
    assert (changed.name, changed.phone, changed.grid_id) == ("周红红", "+8613912340002", None)
    assert audit_of(services)[-1] == ("edit", new_id, "admin")
    assert client.post(edit, data=same, follow_redirects=False).status_code == 303
    assert len(audit_of(services)) == 2  # the same values again: nothing changed, nothing recorded


def test_a_clerk_keeps_only_their_own_communitys_liaisons(
    client: TestClient, services: Services, town: dict[str, int]
) -> None:
    csrf = sign_in(client, "clerk_a")
    listing = client.get("/people/liaisons").text
    assert "张敏" in listing and "李强" in listing and "陈刚" not in listing and "赵奶奶" not in listing
    other, missing = town["陈刚"], 999_999
    for path in ("/people/liaisons/{}/edit", "/people/liaisons/{}/deactivate"):
        refused, absent = client.get(path.format(other)), client.get(path.format(missing))
        assert refused.status_code == absent.status_code == 404 and "陈刚" not in refused.text
        posted = client.post(path.format(other), data={"name": "改名", "phone": "13912345680", "csrf_token": csrf})
        assert posted.status_code == 404
    kept = liaison(services, other)
    assert kept.active and kept.name == "陈刚" and household(services, town["赵奶奶"]) == ("陈刚", None)
    # A clerk places a new liaison in one of their own grids, never another community's or none.
    form = {"name": "周红", "phone": "13912340001", "csrf_token": csrf}
    for grid in (str(town["grid_b"]), ""):
        assert client.post("/people/liaisons", data={**form, "grid": grid}).status_code == 400
    added = client.post("/people/liaisons", data={**form, "grid": str(town["grid_a"])}, follow_redirects=False)
    assert added.status_code == 303
    assert "周红" in client.get("/people/liaisons").text
    with services.readonly() as session:
        new = session.scalars(select(Liaison).where(Liaison.name == "周红")).one()
        assert new.grid_id == town["grid_a"]
    assert audit_of(services) == [("create", new.id, "clerk_a")]
