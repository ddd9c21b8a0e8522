"""Staff keep a resident's care circle on the resident's page and through the API: consent recorded in the staff
member's name, at most three contacts with a refusal in words, a double submit adds one, opt-out and removal kept
on record, a resident outside the scope not there."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.models import CircleContact, StaffRole
from hotline.services import Services
from tests.api_helpers import API, bearer, issue
from tests.conftest import run_worker, sent_to
from tests.console_register_helpers import as_user, audit_entries, make_people

DAUGHTER = "+8613700000001"


@pytest.fixture
def people(services: Services) -> dict[str, int]:
    return make_people(services)


def circle_key(page: str) -> str:
    found = re.search(r'id="circle-add".*?name="request_key" value="([^"]+)"', page, re.S)
    assert found, "the resident's page has no add-a-family-member form"
    return found.group(1)


def contacts(services: Services) -> list[CircleContact]:
    with services.readonly() as session:
        return list(session.scalars(select(CircleContact).order_by(CircleContact.id)))


def test_a_clerk_keeps_the_circle_on_the_residents_page(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    token = as_user(client, "clerk")
    url = f"/register/residents/{people['梁阿姨']}"
    page = client.get(url)
    assert page.status_code == 200 and "关怀圈" in page.text and "还没有家属" in page.text
    form = {
        "csrf_token": token,
        "request_key": circle_key(page.text),
        "name": "王芳",
        "relation": "女儿",
        "phone": "137 0000 0001",
        "language": "zh-CN",
        "consent_way": "in_person",
    }
    added = client.post(f"{url}/circle", data=form, follow_redirects=False)
    assert added.status_code == 303 and added.headers["location"].endswith("#circle")
    again = client.post(f"{url}/circle", data=form, follow_redirects=False)  # a double click
    assert again.status_code == 303
    [contact] = contacts(services)
    assert (contact.name, contact.phone, contact.consent_way, contact.consent_by) == (
        "王芳",
        DAUGHTER,
        "in_person",
        "clerk",
    )
    run_worker(services)
    [welcome] = sent_to(services, DAUGHTER)
    assert "梁阿姨" in welcome and "退订" in welcome

    shown = client.get(url).text
    assert "女儿 王芳" in shown and "137 0000 0001" in shown and "当面同意" in shown and "会收到短信" in shown
    assert not client.post(f"{url}/circle", data={**form, "csrf_token": "wrong"}).is_success  # CSRF

    # Two more without consent: never texted; a fourth is refused in words, nothing written.
    for phone in ("13700000002", "13700000003"):
        fresh = circle_key(client.get(url).text)
        made = client.post(f"{url}/circle", data={**form, "request_key": fresh, "phone": phone, "consent_way": ""})
        assert made.status_code == 200
    page = client.get(url).text
    assert "未记录同意：不会通知" in page and "关怀圈已满" in page and 'id="circle-add"' not in page
    refused = client.post(f"{url}/circle", data={**form, "request_key": uuid.uuid4().hex, "phone": "13700000004"})
    assert refused.status_code == 422 and "关怀圈最多 3 位家属" in refused.text
    assert len(contacts(services)) == 3
    bad = client.post(f"{url}/circle/{contact.id}", data={**form, "phone": "12"})
    assert bad.status_code == 422 and "手机号看不懂" in bad.text

    # Opt-out and removal, kept on record; an opted-out number cannot be added back.
    assert client.post(f"{url}/circle/{contact.id}/opt-out", data={"csrf_token": token}).status_code == 200
    assert "已退订" in client.get(url).text
    assert client.post(f"{url}/circle/{contact.id}/remove", data={"csrf_token": token}).status_code == 200
    back = client.post(f"{url}/circle", data={**form, "request_key": uuid.uuid4().hex})
    assert back.status_code == 422 and "曾回复退订" in back.text
    assert len(contacts(services)) == 3 and contacts(services)[0].removed_at is not None
    assert [e.detail for e in audit_entries(services, "circle_add")] == ["女儿 王芳"] * 3
    assert [e.detail for e in audit_entries(services, "circle_opt_out")] == ["女儿 王芳"]


def test_outside_the_scope_the_circle_is_not_there(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    token = as_user(client, "leader1")  # grid 1 only: 王大爷 is in grid 2
    form = {"csrf_token": token, "request_key": uuid.uuid4().hex, "name": "王芳", "relation": "女儿", "phone": DAUGHTER}
    for resident_id in (people["王大爷"], people["赵奶奶"], 999_999):
        assert client.post(f"/register/residents/{resident_id}/circle", data=form).status_code == 404
    assert contacts(services) == []


def test_the_api_reads_adds_once_per_key_opts_out_and_removes(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    headers = bearer(issue(services, StaffRole.CLERK, community="幸福里社区"))
    url = f"{API}/residents/{people['梁阿姨']}/circle"
    body = {"name": "王芳", "relation": "女儿", "phone": "13700000001", "consent_way": "by_phone"}
    missing = client.post(url, json=body, headers=headers)
    assert missing.status_code == 400 and "Idempotency-Key" in missing.json()["error"]
    key = {**headers, "Idempotency-Key": uuid.uuid4().hex}
    first = client.post(url, json=body, headers=key)
    assert first.status_code == 201, first.text
    made = first.json()["contact"]
    assert made["consent"]["way"] == "by_phone" and made["messaged"] is True and first.json()["messages_decided"] == 1
    again = client.post(url, json=body, headers=key)
    assert again.status_code == 200 and again.json()["contact"]["id"] == made["id"]
    assert again.json()["messages_decided"] == 0
    read = client.get(url, headers=headers).json()
    assert [c["phone"] for c in read["contacts"]] == [DAUGHTER] and read["limit"] == 3
    opted = client.post(f"{url}/{made['id']}/opt-out", headers=key)
    assert (
        opted.status_code == 200 and opted.json()["contact"]["opted_out_at"] and not opted.json()["contact"]["messaged"]
    )
    assert client.delete(f"{url}/{made['id']}", headers=headers).status_code == 200
    assert client.get(url, headers=headers).json()["contacts"] == []
    outside = client.get(f"{API}/residents/{people['赵奶奶']}/circle", headers=headers)
    assert outside.status_code == 404
    run_worker(services)
    assert len(sent_to(services, DAUGHTER)) == 1  # the welcome, once
