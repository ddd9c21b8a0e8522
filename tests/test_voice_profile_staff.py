"""Staff set a resident's profile for hearing and memory: on the resident's page (a CSRF-guarded form, within
scope, audited) and through the API (read on the resident, set by PUT)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.models import VoiceProfile
from hotline.services import Services
from tests.api_helpers import API, bearer, issue
from tests.console_register_helpers import as_user, audit_entries, make_people

OFF = {"slower": False, "louder": False, "twice": False, "short_menus": False, "sms_copy": False}


@pytest.fixture
def people(services: Services) -> dict[str, int]:
    return make_people(services)


def stored(services: Services, resident_id: int) -> VoiceProfile | None:
    with services.readonly() as session:
        return session.scalar(select(VoiceProfile).where(VoiceProfile.resident_id == resident_id))


def profile_section(page: str) -> str:
    return page.split('id="voice-profile"', 1)[1].split("</section>", 1)[0]


def test_the_resident_page_shows_and_saves_the_profile_in_words(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    liang = people["梁阿姨"]
    token = as_user(client, "leader1")
    page = client.get(f"/register/residents/{liang}").text
    assert "听力与记忆" in page and "说慢一点" in page and "每句话说两遍" in page
    assert "checked" not in profile_section(page)  # other sections (a hospital stay's "tell the family") may tick
    form = {"csrf_token": token, "slower": "on", "short_menus": "on"}
    saved = client.post(f"/register/residents/{liang}/voice-profile", data=form, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"].endswith("?profile=saved#voice-profile")
    row = stored(services, liang)
    assert row is not None and (row.slower, row.louder, row.twice, row.short_menus, row.sms_copy) == (
        True,
        False,
        False,
        True,
        False,
    )
    again = client.post(
        f"/register/residents/{liang}/voice-profile", data=form, follow_redirects=False
    )  # a double click
    assert again.status_code == 303
    edits = [e.detail for e in audit_entries(services, "edit")]
    assert edits == ["voice profile: slower, short_menus"]  # recorded once: the second changed nothing
    shown = client.get(f"/register/residents/{liang}?profile=saved").text
    assert "已保存" in shown and profile_section(shown).count("checked") == 2


def test_the_form_needs_csrf_and_scope(client: TestClient, services: Services, people: dict[str, int]) -> None:
    token = as_user(client, "leader1")
    liang, other = people["梁阿姨"], people["王大爷"]  # 王大爷 is in another grid
    assert client.post(f"/register/residents/{liang}/voice-profile", data={"slower": "on"}).status_code == 403
    outside = client.post(f"/register/residents/{other}/voice-profile", data={"csrf_token": token, "twice": "on"})
    assert outside.status_code == 404 and "王大爷" not in outside.text
    assert stored(services, liang) is None and stored(services, other) is None


def test_the_api_reads_and_sets_the_profile(client: TestClient, services: Services, people: dict[str, int]) -> None:
    liang = people["梁阿姨"]
    mine = bearer(issue(services))
    assert client.get(f"{API}/residents/{liang}", headers=mine).json()["voice_profile"] == OFF
    put = client.put(f"{API}/residents/{liang}/voice-profile", json={"louder": True, "sms_copy": True}, headers=mine)
    assert put.status_code == 200, put.text
    assert put.json()["changed"] == ["louder", "sms_copy"]
    assert put.json()["resident"]["voice_profile"] == {**OFF, "louder": True, "sms_copy": True}
    again = client.put(f"{API}/residents/{liang}/voice-profile", json={"louder": True, "sms_copy": True}, headers=mine)
    assert again.json()["changed"] == []
    read = client.get(f"{API}/residents/{liang}", headers=mine).json()["voice_profile"]
    assert read == {**OFF, "louder": True, "sms_copy": True}
    bad = client.put(f"{API}/residents/{liang}/voice-profile", json={"louder": "yes"}, headers=mine)
    assert bad.status_code == 422 and "louder" in bad.text
    unknown = client.put(f"{API}/residents/{liang}/voice-profile", json={"quieter": True}, headers=mine)
    assert unknown.status_code in (400, 422)
    row = stored(services, liang)
    assert row is not None and row.louder and row.sms_copy and not row.slower
