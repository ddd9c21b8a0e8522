"""A resident's medicine changed and stopped through the API (`PATCH /residents/{id}/medicines/{medicine_id}`,
`POST …/stop`): only the fields named change, a repeat changes and records nothing, bad input is a 422 naming the
field with nothing written, a stopped medicine refuses a change, and a token of another community finds nothing.

Real parts: SQLite (or PostgreSQL), redis-server, Starlette's TestClient; the clock is the test's (2030-03-04).
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import AuditEntry, Medicine, Resident, StaffRole
from hotline.api.openapi import DOCUMENT
from hotline.services import Services
from tests.api_helpers import API, bearer, is_error, issue
from tests.conftest import Clock

KEYED = {"Idempotency-Key": "add-1"}


@pytest.fixture
def url(services: Services, community: None, clock: Clock) -> str:
    """梁阿姨's medicines (幸福里社区), as the API names them."""
    with services.readonly() as session:
        found = session.scalar(select(Resident.id).where(Resident.name == "梁阿姨"))
    assert found is not None
    return f"{API}/residents/{found}/medicines"


def add(client: TestClient, url: str, token: dict[str, str], key: str = "add-1", **fields: Any) -> dict[str, Any]:
    body = {"name": "降压药", "dose": "每日一片", "days_supply": 30, "last_refill": "2030-02-10", **fields}
    made = client.post(url, json=body, headers={**token, "Idempotency-Key": key})
    assert made.status_code == 201, made.text
    medicine: dict[str, Any] = made.json()["medicine"]
    return medicine


def stored(services: Services, medicine_id: int) -> tuple[object, ...]:
    with services.readonly() as session:
        row = session.get(Medicine, medicine_id)
        assert row is not None
        return (row.name, row.dose, row.days_supply, row.last_refill, row.lead_days, row.stopped_at, row.updated_at)


def audited(services: Services, action: str) -> list[AuditEntry]:
    with services.readonly() as session:
        found = session.scalars(
            select(AuditEntry).where(AuditEntry.action == action, AuditEntry.object_kind == "medicine")
        ).all()
        session.expunge_all()
        return list(found)


def conforms(answer: Any, path: str, method: str) -> None:
    """The answer is what the OpenAPI document says this operation answers."""
    schema = DOCUMENT["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema_rs.Draft202012Validator({**schema, "components": DOCUMENT["components"]}).validate(answer)


def test_a_change_sets_only_the_fields_named_and_the_same_change_again_changes_nothing(
    client: TestClient, services: Services, url: str
) -> None:
    token = bearer(issue(services, StaffRole.CLERK, community="幸福里社区"))
    medicine = add(client, url, token)
    one = f"{url}/{medicine['id']}"
    changed = client.patch(one, json={"days_supply": 28}, headers=token)
    assert changed.status_code == 200, changed.text
    conforms(changed.json(), "/residents/{id}/medicines/{medicine_id}", "patch")
    assert changed.json()["changed"] == ["days_supply"]
    shown = changed.json()["medicine"]
    assert (shown["name"], shown["dose"], shown["days_supply"]) == ("降压药", "每日一片", 28)
    assert (shown["last_refill"], shown["runs_out_on"], shown["task_on"]) == ("2030-02-10", "2030-03-10", "2030-03-07")
    before = stored(services, medicine["id"])
    again = client.patch(one, json={"days_supply": 28}, headers=token)
    assert again.status_code == 200 and again.json()["changed"] == []
    assert stored(services, medicine["id"]) == before and len(audited(services, "edit")) == 1

    renamed = client.patch(one, json={"name": "  降压药   氨氯地平 ", "dose": None, "lead_days": 5}, headers=token)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["changed"] == ["name", "dose", "lead_days"]
    shown = renamed.json()["medicine"]
    assert (shown["name"], shown["dose"], shown["lead_days"], shown["task_on"]) == (
        "降压药 氨氯地平",
        "",
        5,
        "2030-03-05",
    )
    assert client.patch(one, json={"name": "降压药 氨氯地平", "dose": ""}, headers=token).json()["changed"] == []
    default = client.patch(one, json={"lead_days": None}, headers=token)  # the hotline's own lead (3) again
    assert default.json()["changed"] == ["lead_days"] and default.json()["medicine"]["lead_days"] == 3
    assert stored(services, medicine["id"])[4] is None

    edits = audited(services, "edit")
    assert len(edits) == 3 and all(e.object_id == medicine["id"] for e in edits)
    assert all(e.actor_name == "API test clerk" and e.detail.startswith("resident:") for e in edits)
    assert not any("降压药" in e.detail or "每日" in e.detail for e in edits)  # no name or dose in the audit log
    listed = client.get(url, headers=token).json()["medicines"]
    assert [(m["name"], m["days_supply"]) for m in listed] == [("降压药 氨氯地平", 28)]


def test_bad_input_is_a_422_naming_the_field_and_changes_nothing(
    client: TestClient, services: Services, url: str
) -> None:
    token = bearer(issue(services, StaffRole.CLERK, community="幸福里社区"))
    medicine = add(client, url, token)
    one = f"{url}/{medicine['id']}"
    before = stored(services, medicine["id"])
    for body, field in (
        ({"days_supply": 0}, "days_supply"),
        ({"days_supply": 366}, "days_supply"),
        ({"days_supply": "30"}, "days_supply"),
        ({"days_supply": 30.5}, "days_supply"),
        ({"days_supply": None}, "days_supply"),
        ({"lead_days": 31}, "lead_days"),
        ({"lead_days": -1}, "lead_days"),
        ({"name": "   "}, "name"),
        ({"name": None}, "name"),
        ({"name": 7}, "name"),
        ({"name": "药" * 101}, "name"),
        ({"dose": "一" * 201}, "dose"),
        ({"dose": "每日一片", "days_supply": 0}, "days_supply"),  # all or nothing: the dose is not kept either
        ({"last_refill": "2030-03-01"}, "last_refill"),  # a refill has its own route
        ({"stopped": True}, "stopped"),
        ({}, "name"),  # names none: the answer lists those it takes
    ):
        refused = client.patch(one, json=body, headers=token)
        message = is_error(refused, 422)
        problems = refused.json().get("problems")  # the domain's refusals name it there, a wrong type in words
        assert problems[0]["field"] == field if problems else field in message, (body, refused.text)
    assert client.patch(one, content=b"{", headers={**token, "Content-Type": "application/json"}).status_code == 400
    assert stored(services, medicine["id"]) == before and audited(services, "edit") == []


def test_a_stop_is_recorded_once_and_a_stopped_medicine_refuses_a_change_and_a_refill(
    client: TestClient, services: Services, url: str
) -> None:
    token = bearer(issue(services, StaffRole.GRID_LEADER, grid="幸福里社区/第1网格"))
    medicine = add(client, url, token)
    other = add(client, url, token, key="add-2", name="钙片")
    one = f"{url}/{medicine['id']}"
    stopped = client.post(f"{one}/stop", headers=token)
    assert stopped.status_code == 200, stopped.text
    conforms(stopped.json(), "/residents/{id}/medicines/{medicine_id}/stop", "post")
    assert stopped.json()["changed"] is True
    assert (stopped.json()["medicine"]["stopped"], stopped.json()["medicine"]["state"]) == (True, "stopped")
    before = stored(services, medicine["id"])
    assert before[5] is not None
    twice = client.post(f"{one}/stop", json={}, headers=token)
    assert twice.status_code == 200 and twice.json()["changed"] is False
    assert stored(services, medicine["id"]) == before
    stops = audited(services, "stop")
    assert [(e.object_id, e.detail) for e in stops] == [(medicine["id"], f"resident:{url.split('/')[-2]}")]

    late = client.patch(one, json={"days_supply": 60}, headers=token)
    assert "stopped" in is_error(late, 409)
    refill = client.post(f"{one}/refill", json={}, headers={**token, "Idempotency-Key": "r1"})
    assert "stopped" in is_error(refill, 409)
    assert stored(services, medicine["id"]) == before and audited(services, "edit") == []
    assert is_error(client.post(f"{one}/stop", json={"now": True}, headers=token), 422)
    listed = client.get(url, headers=token).json()["medicines"]
    assert [(m["id"], m["stopped"]) for m in listed] == [(other["id"], False), (medicine["id"], True)]


def test_another_communitys_token_finds_no_medicine_and_changes_nothing(
    client: TestClient, services: Services, url: str
) -> None:
    mine = bearer(issue(services, StaffRole.CLERK, community="幸福里社区"))
    medicine = add(client, url, mine)
    with services.sessions.begin() as session:
        register.add_liaison(session, name="周明", phone="+8613800000077", region="CN")
        feng = register.add_resident(
            session,
            name="冯奶奶",
            phones=["+8613900000077"],
            liaison_phone="+8613800000077",
            address=register.Address("光明社区", "5号楼", "1单元", "101"),
            region="CN",
        ).id
    theirs = bearer(issue(services, StaffRole.CLERK, community="光明社区"))
    their_url = f"{API}/residents/{feng}/medicines"
    their_medicine = add(client, their_url, theirs, key="add-feng", name="二甲双胍")
    before = stored(services, medicine["id"]), stored(services, their_medicine["id"])
    one = f"{url}/{medicine['id']}"
    for response in (
        client.patch(one, json={"days_supply": 60}, headers=theirs),
        client.post(f"{one}/stop", headers=theirs),
        # their medicine, named under a resident of mine: no such medicine of that resident
        client.patch(f"{url}/{their_medicine['id']}", json={"days_supply": 60}, headers=mine),
        client.post(f"{url}/{their_medicine['id']}/stop", headers=mine),
        client.patch(f"{their_url}/{their_medicine['id']}", json={"days_supply": 60}, headers=mine),
        client.post(f"{their_url}/{their_medicine['id']}/stop", headers=mine),
        client.patch(f"{url}/999999", json={"days_supply": 60}, headers=mine),
        client.post(f"{url}/999999/stop", headers=mine),
        client.post(f"{url}/x1/stop", headers=mine),
    ):
        assert is_error(response, 404) and "降压药" not in response.text and "二甲双胍" not in response.text
    assert (stored(services, medicine["id"]), stored(services, their_medicine["id"])) == before
    with services.readonly() as session:
        assert session.scalar(select(func.count()).where(AuditEntry.action.in_(("edit", "stop")))) == 0
