"""The JSON API's register, calls, notices and reports, and its OpenAPI document. Tokens and scope are in
test_api_tokens.py, the task actions and bad input in test_api_tasks.py."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import AuditEntry, CheckinPlan, OutboundMessage, StaffRole
from hotline.api.openapi import DOCUMENT
from hotline.services import Services
from tests.api_helpers import API, RESIDENT, ask, bearer, is_error, issue, liaison_id, outbound, resident_id
from tests.conftest import BACKUP_PHONE, LIAISON_PHONE, Clock

# ── The register, calls and reports ──────────────────────────────────────────────────────────────────────────


def test_residents_are_found_read_with_an_audit_entry_and_edited(
    client: TestClient, services: Services, community: None
) -> None:
    headers = bearer(issue(services, StaffRole.CLERK, community="幸福里社区"))
    someone = resident_id(services)
    found = client.get(f"{API}/residents", params={"q": "138 0013 8000"}, headers=headers).json()["residents"]
    assert [r["id"] for r in found] == [someone] and found[0]["phone"] == "138****8000"

    record = client.get(f"{API}/residents/{someone}", headers=headers)
    assert record.status_code == 200, record.text
    assert record.json()["resident"]["phones"] == [{"phone": RESIDENT, "landline": False}]
    assert record.json()["resident"]["liaison"]["name"] == "张敏"

    changed = client.patch(
        f"{API}/residents/{someone}", json={"name": "梁秀英", "categories": ["elderly_alone"]}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["changed"] == ["name", "categories"] and changed.json()["resident"]["name"] == "梁秀英"
    refused = client.patch(f"{API}/residents/{someone}", json={"phones": ["12"], "risk": "purple"}, headers=headers)
    assert is_error(refused, 422) and {p["field"] for p in refused.json()["problems"]} == {"phones", "risk"}
    is_error(client.patch(f"{API}/residents/{someone}", json={"age": 80}, headers=headers), 422)
    is_error(client.patch(f"{API}/residents/{someone}", json={"name": 5}, headers=headers), 422)

    backup, primary = liaison_id(services, BACKUP_PHONE), liaison_id(services, LIAISON_PHONE)
    swapped = client.put(
        f"{API}/residents/{someone}/liaisons", json={"primary_id": backup, "backup_id": primary}, headers=headers
    )
    assert swapped.status_code == 200 and swapped.json()["changed"] == ["primary_liaison", "backup_liaison"]
    is_error(client.put(f"{API}/residents/{someone}/liaisons", json={"primary_id": backup}, headers=headers), 422)

    plan = client.put(f"{API}/residents/{someone}/plan", json={"times": ["09:00", "15:00"]}, headers=headers)
    assert plan.status_code == 200 and plan.json()["changed"] == ["plan"]
    quiet = client.put(f"{API}/residents/{someone}/plan", json={"times": ["23:30"]}, headers=headers)
    assert [p["code"] for p in quiet.json()["problems"]] == ["quiet_time"] and quiet.status_code == 422
    is_error(client.put(f"{API}/residents/{someone}/plan", json={"times": "09:00"}, headers=headers), 422)

    with services.readonly() as session:
        resident = register.find_residents_by_phone(session, RESIDENT)[0]
        assert resident.name == "梁秀英" and resident.household.primary_liaison_id == backup
        own = session.scalars(select(CheckinPlan).where(CheckinPlan.resident_id == someone)).one()
        assert list(own.times) == ["09:00", "15:00"]
        query = select(AuditEntry.action, AuditEntry.detail).where(AuditEntry.object_kind == "resident")
        entries = session.execute(query.order_by(AuditEntry.id)).all()
    assert entries == [
        ("view", ""),
        ("edit", "name, categories"),
        ("edit", "primary_liaison, backup_liaison"),
        ("edit", "plan"),
    ]
    assert not any("138" in detail for _, detail in entries)


def test_a_call_is_decided_for_the_selection_and_a_dry_run_decides_none(
    client: TestClient, services: Services, community: None, clock: Clock
) -> None:
    from tests.conftest import at

    clock.now = at("10:00")
    headers, someone = bearer(issue(services)), resident_id(services)
    trial = client.post(
        f"{API}/calls",
        json={"not_reached_today": True, "category": "elderly_alone", "resident_ids": [someone], "dry_run": True},
        headers=headers,
    )
    assert trial.status_code == 200 and trial.json()["selected"] == 0, "nothing due yet, and no category"
    trial = client.post(f"{API}/calls", json={"resident_ids": [someone], "dry_run": True}, headers=headers)
    assert trial.json() == {
        "dry_run": True,
        "selected": 1,
        "seconds": trial.json()["seconds"],
        "resident_ids": [someone],
        "called": [],
        "skipped": {},
    }
    assert outbound(services) == []
    placed = client.post(f"{API}/calls", json={"resident_ids": [someone]}, headers=headers)
    assert placed.status_code == 200 and placed.json()["called"] == [someone]
    with services.readonly() as session:
        calls = session.scalars(select(OutboundMessage).where(OutboundMessage.kind == "checkin")).all()
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "call")).one()
    assert [c.to_phone for c in calls] == [RESIDENT] and audited.actor.startswith("token:")
    is_error(client.post(f"{API}/calls", json={"building": "3号楼"}, headers=headers), 422)
    is_error(client.post(f"{API}/calls", json={"grid_id": 99999}, headers=headers), 404)


def test_a_notice_is_previewed_sent_once_per_request_key_and_followed(
    client: TestClient, services: Services, community: None, clock: Clock
) -> None:
    from tests.conftest import at

    clock.now = at("10:00")
    headers = bearer(issue(services, StaffRole.CLERK, community="幸福里社区"))
    notice = {"target_kind": "community", "target": "幸福里社区", "channels": "sms", "body": "明天上午9点到11点停水"}
    preview = client.post(f"{API}/notices/preview", json=notice, headers=headers)
    assert preview.status_code == 200, preview.text
    assert (preview.json()["residents"], preview.json()["sms"], preview.json()["ok"]) == (1, 1, True)
    assert preview.json()["encoding"] == "UCS-2" and preview.json()["segments"] == 1
    assert outbound(services) == [], "a preview sends nothing"

    sent = client.post(f"{API}/notices", json={**notice, "request_key": "key-0001"}, headers=headers)
    assert sent.status_code == 200, sent.text
    notice_id = sent.json()["notice"]["id"]
    assert sent.json()["messages_decided"] == 1 and sent.json()["notice"]["recipients"] == 1
    with services.readonly() as session:
        copies = session.scalars(select(OutboundMessage).where(OutboundMessage.notice_id == notice_id)).all()
    assert [(c.to_phone, c.body, c.kind) for c in copies] == [(RESIDENT, notice["body"], "sms")]
    again = client.post(f"{API}/notices", json={**notice, "request_key": "key-0001"}, headers=headers)
    assert again.json()["notice"]["id"] == notice_id and again.json()["messages_decided"] == 0
    assert len(outbound(services)) == 1

    listed = client.get(f"{API}/notices", headers=headers).json()["notices"]
    assert [n["id"] for n in listed] == [notice_id]
    one = client.get(f"{API}/notices/{notice_id}", headers=headers).json()
    assert one["counts"]["sms"]["total"] == 1
    is_error(client.get(f"{API}/notices/{notice_id + 1}", headers=headers), 404)
    for bad in (
        {"target_kind": "street"},
        {"body": "  "},
        {"channels": "fax"},
        {"body": "长" * 301},
        {"target_kind": "category", "target": "giants"},
        {"target": None},
    ):
        is_error(client.post(f"{API}/notices", json={**notice, **bad}, headers=headers), 422)
    is_error(client.post(f"{API}/notices", json={**notice, "request_key": "short"}, headers=headers), 409)
    clock.now = at("22:30")
    refused = client.post(f"{API}/notices", json={**notice, "channels": "call"}, headers=headers)
    assert "quiet hours" in is_error(refused, 409)
    assert len(outbound(services)) == 1


def test_reports_answer_for_a_day_and_a_trend(client: TestClient, services: Services, community: None) -> None:
    headers = bearer(issue(services))
    ask(client, services, "想买点菜")
    today = services.clock().astimezone(services.settings.timezone).date()
    daily = client.get(f"{API}/reports/daily", params={"day": today.isoformat()}, headers=headers)
    assert daily.status_code == 200 and daily.json()["total"]["tasks"]["groceries"] == 1
    trend = client.get(f"{API}/reports/coverage", params={"days": "3"}, headers=headers).json()
    assert [d["day"] for d in trend["trend"]][-1] == today.isoformat() and len(trend["trend"]) == 3


# ── The OpenAPI document ─────────────────────────────────────────────────────────────────────────────────────


def api_routes(client: TestClient) -> set[tuple[str, str]]:
    """(path, method) of every route under the /api/v1 mount, walked from the app."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                walk(list(route.routes), prefix + route.path)
            elif isinstance(route, Route):
                found.update((prefix + route.path, m.lower()) for m in route.methods or () if m != "HEAD")

    mount = next(r for r in client.app.routes if isinstance(r, Mount) and r.path == API)  # type: ignore[attr-defined]
    walk(list(mount.routes), "")
    return found


def test_the_openapi_document_matches_the_routes_and_is_public(client: TestClient) -> None:
    routes = api_routes(client)
    documented = {(path, method) for path, methods in DOCUMENT["paths"].items() for method in methods}
    assert routes - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routes == set(), "documented operations that are no route"
    served = client.get(f"{API}/openapi.json")
    assert served.status_code == 200 and served.json() == json.loads(json.dumps(DOCUMENT))


def test_the_openapi_document_is_well_formed() -> None:
    assert DOCUMENT["openapi"].startswith("3.1") and DOCUMENT["info"]["title"] and DOCUMENT["info"]["version"]
    assert DOCUMENT["components"]["securitySchemes"]["bearerAuth"] == {
        **DOCUMENT["components"]["securitySchemes"]["bearerAuth"],
        "type": "http",
        "scheme": "bearer",
    }
    schemas = DOCUMENT["components"]["schemas"]
    text = json.dumps(DOCUMENT)
    for name in re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text):
        assert name in schemas, f"dangling $ref {name}"
    operation_ids = []
    for path, methods in DOCUMENT["paths"].items():
        assert path.startswith("/")
        declared = set(re.findall(r"\{([a-z_]+)\}", path))
        for method, operation in methods.items():
            assert method in ("get", "post", "put", "patch", "delete")
            operation_ids.append(operation["operationId"])
            params = operation.get("parameters", [])
            assert {p["name"] for p in params if p["in"] == "path"} == declared, (path, method)
            assert all(p["required"] for p in params if p["in"] == "path")
            assert len({(p["name"], p["in"]) for p in params}) == len(params)
            assert "200" in operation["responses"] and all(r["description"] for r in operation["responses"].values())
            if operation.get("security") != []:
                error = operation["responses"]["401"]["content"]["application/json"]["schema"]
                assert error == {"$ref": "#/components/schemas/Error"}
            if method in ("get", "delete"):
                assert "requestBody" not in operation
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"
