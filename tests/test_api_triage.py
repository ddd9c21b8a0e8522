"""The API's triage of unknown numbers: the items, one item, and link (with a dry run first), register and close,
for admin and clerk tokens in their scope, each audited under the token's name and refused when repeated."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import AuditEntry, Resident, StaffRole, Task, TriageItem
from dispatch.tokens import create_token
from hotline.services import Services
from tests.conftest import RESIDENT_PHONE, STRANGER_PHONE, post_signed, run_worker, sms_params

API = "/api/v1"
HOME = "幸福里社区"


def bearer(services: Services, role: StaffRole = StaffRole.ADMIN, **scope: str) -> dict[str, str]:
    with services.sessions.begin() as session:
        return {"Authorization": f"Bearer {create_token(session, name=f'test {role}', role=role, **scope)[1]}"}


@pytest.fixture
def item_id(client: TestClient, services: Services, community: None) -> int:
    assert (
        post_signed(
            client, services, "/twilio/sms", sms_params("我妈说有点头晕", from_phone=STRANGER_PHONE)
        ).status_code
        == 200
    )
    run_worker(services)
    with services.sessions() as session:
        found = session.scalar(select(TriageItem.id))
        assert found is not None
        return found


def resident_id(services: Services) -> int:
    with services.sessions() as session:
        return register.find_residents_by_phone(session, RESIDENT_PHONE)[0].id


def test_a_clerk_token_lists_reads_and_links_after_a_dry_run(
    client: TestClient, services: Services, item_id: int
) -> None:
    headers = bearer(services, StaffRole.CLERK, community=HOME)
    board = client.get(f"{API}/board", headers=headers).json()
    assert [(row["id"], row["phone"], row["messages"]) for row in board["triage"]] == [(item_id, "137****0001", 1)]
    listed = client.get(f"{API}/triage", headers=headers)
    assert listed.status_code == 200 and [row["id"] for row in listed.json()["items"]] == [item_id]
    assert client.get(f"{API}/triage?status=linked", headers=headers).json()["items"] == []
    assert client.get(f"{API}/triage?status=bad", headers=headers).status_code == 400
    one = client.get(f"{API}/triage/{item_id}", headers=headers).json()
    assert one["phone"] == STRANGER_PHONE and [m["body"] for m in one["messages"]] == ["我妈说有点头晕"]
    resident = resident_id(services)
    dry = client.post(f"{API}/triage/{item_id}/link", headers=headers, json={"resident_id": resident, "dry_run": True})
    assert dry.status_code == 200, dry.text
    assert dry.json()["result"] is None and dry.json()["preview"]["adds_phone"] is True
    with services.sessions() as session:
        assert session.scalars(select(Task)).all() == []
        assert session.get(TriageItem, item_id).status == "open"  # type: ignore[union-attr]
    linked = client.post(f"{API}/triage/{item_id}/link", headers=headers, json={"resident_id": resident})
    assert linked.status_code == 200, linked.text
    result = linked.json()["result"]
    assert result["item"]["status"] == "linked" and result["phone_added"] is True and result["messages_decided"] >= 1
    with services.sessions() as session:
        [task] = session.scalars(select(Task)).all()
        assert task.id in result["task_ids"] and task.priority == "urgent"  # dizziness: unwell, urgent
        names = set(session.scalars(select(AuditEntry.actor_name).where(AuditEntry.object_kind == "triage")))
    assert names == {"API test clerk"}
    again = client.post(f"{API}/triage/{item_id}/link", headers=headers, json={"resident_id": resident})
    assert again.status_code == 409 and "linked already" in again.json()["error"]


def test_register_and_close_check_their_bodies(client: TestClient, services: Services, item_id: int) -> None:
    headers = bearer(services)
    assert client.post(f"{API}/triage/{item_id}/register", headers=headers, json={}).status_code == 422
    assert client.post(f"{API}/triage/{item_id}/close", headers=headers, json={"note": 3}).status_code == 422
    assert client.post(f"{API}/triage/{item_id}/close", headers=headers, json={"nope": "x"}).status_code == 422
    made = client.post(f"{API}/triage/{item_id}/register", headers=headers, json={"name": "孙爷爷", "room": "101"})
    assert made.status_code == 200, made.text
    new_resident = made.json()["resident_id"]
    with services.sessions() as session:
        resident = session.get(Resident, new_resident)
        assert resident is not None and resident.phone == STRANGER_PHONE
    closed = client.post(f"{API}/triage/{item_id}/close", headers=headers, json={"note": "已登记"})
    assert closed.status_code == 409 and "registered already" in closed.json()["error"]


def test_grid_leader_tokens_may_not_and_other_communities_see_nothing(
    client: TestClient, services: Services, item_id: int
) -> None:
    leader = bearer(services, StaffRole.GRID_LEADER, grid=f"{HOME}/第1网格")
    assert client.get(f"{API}/triage", headers=leader).status_code == 403
    assert client.get(f"{API}/board", headers=leader).json()["triage"] == []
    with services.sessions.begin() as session:
        register.find_or_create_community(session, "光明社区")
    other = bearer(services, StaffRole.CLERK, community="光明社区")
    assert client.get(f"{API}/triage", headers=other).json()["items"] == []
    assert client.get(f"{API}/triage/{item_id}", headers=other).status_code == 404
    closing = client.post(f"{API}/triage/{item_id}/close", headers=other, json={"note": "不是我们的"})
    assert closing.status_code == 404
    with services.sessions() as session:
        assert session.get(TriageItem, item_id).status == "open"  # type: ignore[union-attr]
