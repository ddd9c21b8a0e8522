"""Communities, grids and the directory of numbers in the console (`/people/places…`): admins only, checked
whole, audited, and a second click changes nothing. The voice hotline reads out the numbers kept here."""

from __future__ import annotations

from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.ivr.calls import directory
from dispatch.models import AuditEntry, Community, DirectoryEntry, Grid, StaffRole
from hotline.services import Services
from tests.console_helpers import make_user, sign_in


def audit_of(services: Services) -> list[tuple[str, str]]:
    with services.readonly() as session:
        return [(e.action, e.object_kind) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def names(services: Services) -> dict[str, list[str]]:
    """Each community's grids, by name."""
    with services.readonly() as session:
        found: dict[str, list[str]] = {c.name: [] for c in session.scalars(select(Community))}
        for grid in session.scalars(select(Grid).order_by(Grid.name)):
            found[grid.community.name].append(grid.name)
        return found


def test_an_admin_keeps_communities_grids_and_the_directory(client: TestClient, services: Services) -> None:
    make_user(services, "admin", StaffRole.ADMIN)
    csrf = sign_in(client, "admin")

    def post(path: str, **form: str) -> int:
        return client.post(path, data={**form, "csrf_token": csrf}, follow_redirects=False).status_code

    for _ in range(2):  # a double click adds one
        assert post("/people/places/communities", name=" 幸福里社区 ") == 303
    with services.readonly() as session:
        community = session.scalars(select(Community)).one().id
    for _ in range(2):
        assert post(f"/people/places/communities/{community}/grids", name="一网格") == 303
    assert post(f"/people/places/communities/{community}/grids", name="二网格") == 303
    assert names(services) == {"幸福里社区": ["一网格", "二网格"]}
    with services.readonly() as session:
        second = session.scalars(select(Grid).where(Grid.name == "二网格")).one().id
    refused = client.post(f"/people/places/grids/{second}", data={"name": "一网格", "csrf_token": csrf})
    assert refused.status_code == 400 and "已经有同名的了" in refused.text
    assert post(f"/people/places/grids/{second}", name="东区") == 303
    assert post(f"/people/places/communities/{community}", name="幸福里") == 303
    assert names(services) == {"幸福里": ["一网格", "东区"]}

    entry = {"kind": "pharmacy", "name": "大药房", "phone": "0571 8888 1234"}
    for _ in range(2):
        assert post(f"/people/places/communities/{community}/directory", **entry) == 303
    bad = client.post(
        f"/people/places/communities/{community}/directory",
        data={"kind": "pharmacy", "name": "", "phone": "12", "csrf_token": csrf},
    )
    assert bad.status_code == 400 and "名称是必填的" in bad.text and "不是有效的本国号码" in bad.text
    with services.readonly() as session:
        entries = directory(session, community)  # what the voice hotline reads out
        assert [(e.kind, e.name, e.phone) for e in entries] == [("pharmacy", "大药房", "+8657188881234")]
        entry_id = entries[0].id
    shown = client.get("/people/places").text
    assert "0571 8888 1234" in shown and "+8657188881234" not in shown  # national format
    assert post(f"/people/places/directory/{entry_id}", kind="hospital", name="市一医院", phone="057188881235") == 303
    with services.readonly() as session:
        changed = session.get(DirectoryEntry, entry_id)
        assert changed is not None and (changed.kind, changed.name) == ("hospital", "市一医院")
    for _ in range(2):
        assert post(f"/people/places/directory/{entry_id}/remove") == 303
    with services.readonly() as session:
        assert directory(session, community) == []
    assert audit_of(services) == [
        ("create", "community"),
        ("create", "grid"),
        ("create", "grid"),
        ("edit", "grid"),
        ("edit", "community"),
        ("create", "directory"),
        ("edit", "directory"),
        ("remove", "directory"),
    ]


def test_a_clerk_cannot_change_places(client: TestClient, services: Services) -> None:
    make_user(services, "admin", StaffRole.ADMIN)
    csrf = sign_in(client, "admin")
    client.post("/people/places/communities", data={"name": "幸福里社区", "csrf_token": csrf})
    make_user(services, "clerk", StaffRole.CLERK, community="幸福里社区")
    client.cookies.clear()
    csrf = sign_in(client, "clerk")
    assert client.get("/people/places").status_code == 403
    with services.readonly() as session:
        community = session.scalars(select(Community)).one().id
    for path in ("/people/places/communities", f"/people/places/communities/{community}"):
        assert client.post(path, data={"name": "改名", "csrf_token": csrf}).status_code == 403
    assert names(services) == {"幸福里社区": []}
