"""Away and in hospital through the console and the API: the resident page's form (CSRF, a key per form, refusals
in words), ending early, the board's list per scope, the audit log in words; the API with its Idempotency-Key.

Real parts: SQLite (or PostgreSQL), redis-server, Starlette's TestClient; the clock is the test's.
"""

from __future__ import annotations

from sqlalchemy import func, select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import Absence, Resident, ResidentStatus, StaffRole
from hotline.services import Services
from tests.api_helpers import bearer, is_error, issue
from tests.conftest import Clock
from tests.console_helpers import make_user, sign_in

API = "/api/v1"


def absences(services: Services) -> int:
    with services.readonly() as session:
        return int(session.scalar(select(func.count(Absence.id))) or 0)


def status_of(services: Services, resident_id: int) -> str:
    with services.sessions() as session:
        return str(session.get(Resident, resident_id).status)  # type: ignore[union-attr]


def elsewhere(services: Services) -> int:
    """A resident of another community, 光明社区."""
    with services.sessions.begin() as session:
        register.add_liaison(session, name="周明", phone="+8613800000077", region="CN")
        resident = register.add_resident(
            session,
            name="冯奶奶",
            phones=["+8613900000077"],
            liaison_phone="+8613800000077",
            address=register.Address("光明社区", "5号楼", "1单元", "101"),
            region="CN",
        )
        return resident.id


def test_staff_set_a_resident_away_and_end_it_on_the_resident_page(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    make_user(services)
    csrf = sign_in(client)
    liang = town["梁阿姨"]
    url = f"/register/residents/{liang}"
    page = client.get(url)
    assert page.status_code == 200 and 'id="away-form"' in page.text and "住院时告知家属" in page.text

    form = {"reason": "hospital", "note": "市一医院 3 楼", "tell_family": "1", "request_key": "k-away-1"}
    missing = client.post(f"{url}/absence", data={**form, "csrf_token": csrf}, follow_redirects=False)
    assert missing.status_code == 422 and "请填写预计回来的日期。" in missing.text and 'role="alert"' in missing.text
    past = client.post(f"{url}/absence", data={**form, "return_on": "2030-03-01", "csrf_token": csrf})
    assert past.status_code == 422 and "回来日期必须在今天之后" in past.text
    far = client.post(f"{url}/absence", data={**form, "return_on": "2031-06-01", "csrf_token": csrf})
    assert far.status_code == 422 and "请检查年份" in far.text
    assert absences(services) == 0 and status_of(services, liang) == ResidentStatus.ACTIVE

    no_csrf = client.post(f"{url}/absence", data={**form, "return_on": "2030-03-10"}, follow_redirects=False)
    assert no_csrf.status_code == 403 and absences(services) == 0

    good = {**form, "return_on": "2030-03-10", "csrf_token": csrf}
    first = client.post(f"{url}/absence", data=good, follow_redirects=False)
    again = client.post(f"{url}/absence", data=good, follow_redirects=False)  # a double click
    assert first.status_code == again.status_code == 303
    assert first.headers["location"].endswith("away=set#away") and again.headers["location"].endswith("away=none#away")
    assert absences(services) == 1 and status_of(services, liang) == ResidentStatus.PAUSED
    shown = client.get(url).text
    assert "住院：2030-03-04 起，预计 2030-03-10 回来" in shown and "市一医院 3 楼" in shown
    assert "已选择告知家属。" in shown and 'id="away-end"' in shown

    board = client.get("/board").text
    assert 'id="away"' in board and "梁阿姨" in board.split('id="away"')[1] and "2030-03-10" in board

    ended = client.post(f"{url}/absence/end", data={"csrf_token": csrf}, follow_redirects=False)
    twice = client.post(f"{url}/absence/end", data={"csrf_token": csrf}, follow_redirects=False)
    assert ended.headers["location"].endswith("away=ended#away") and twice.headers["location"].endswith("none#away")
    assert status_of(services, liang) == ResidentStatus.ACTIVE
    shown = client.get(url).text
    assert "以前的外出" in shown and "提前回来，由工作人员结束" in shown and "未打欢迎回家电话" in shown
    assert "目前没有人外出或住院。" in client.get("/board").text
    audit = client.get("/audit").text
    assert "登记外出" in audit and "住院，预计 2030-03-10 回来" in audit and "结束外出" in audit


def test_the_board_lists_only_those_away_in_the_clerks_community(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    feng = elsewhere(services)
    make_user(services)
    make_user(services, "clerk", StaffRole.CLERK, community="幸福里社区")
    csrf = sign_in(client)
    for resident_id, reason in ((town["王大爷"], "family"), (feng, "travel")):
        form = {"reason": reason, "return_on": "2030-03-08", "request_key": f"k-{resident_id}", "csrf_token": csrf}
        assert client.post(f"/register/residents/{resident_id}/absence", data=form).status_code == 200
    board = client.get("/board").text.split('id="away"')[1]
    assert "王大爷" in board and "住在子女或亲友家" in board and "冯奶奶" in board and "外出旅行" in board
    client.post("/logout", data={"csrf_token": csrf})
    csrf = sign_in(client, "clerk")
    board = client.get("/board").text.split('id="away"')[1]
    assert "王大爷" in board and "冯奶奶" not in board
    outside = client.post(f"/register/residents/{feng}/absence/end", data={"csrf_token": csrf}, follow_redirects=False)
    assert outside.status_code == 404 and status_of(services, feng) == ResidentStatus.PAUSED


def test_the_api_sets_and_ends_an_absence_once_per_key_and_refuses_bad_input(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    feng = elsewhere(services)
    token = bearer(issue(services, StaffRole.CLERK, community="幸福里社区"))
    chen = town["陈伯"]
    url = f"{API}/residents/{chen}/absence"
    body = {"reason": "hospital", "return_on": "2030-03-09", "note": "心内科"}
    assert "Idempotency-Key" in is_error(client.post(url, json=body, headers=token), 400)
    keyed = {**token, "Idempotency-Key": "away-1"}
    refused = client.post(url, json={**body, "return_on": "2030-02-30"}, headers=keyed)
    assert is_error(refused, 422) and refused.json()["problems"][0]["field"] == "return_on"
    assert refused.json()["problems"][0]["code"] == "bad_date"
    no_date = client.post(url, json={"reason": "hospital"}, headers=keyed)
    assert is_error(no_date, 422) and no_date.json()["problems"][0]["code"] == "required"
    assert is_error(client.post(url, json={**body, "reason": "moon"}, headers=keyed), 422)
    assert is_error(client.post(url, json={**body, "extra": 1}, headers=keyed), 422)
    assert absences(services) == 0

    made = client.post(url, json=body, headers=keyed)
    assert made.status_code == 201, made.text
    assert made.json()["away"]["current"]["return_on"] == "2030-03-09" and made.json()["away"]["current"]["tell_family"]
    again = client.post(url, json=body, headers=keyed)
    assert again.status_code == 200 and again.json()["created"] is False and absences(services) == 1
    moved = client.post(url, json={**body, "return_on": "2030-03-12"}, headers={**token, "Idempotency-Key": "away-2"})
    assert moved.status_code == 200 and moved.json()["changed"] and absences(services) == 1
    resident = client.get(f"{API}/residents/{chen}", headers=token).json()
    assert resident["away"]["current"]["return_on"] == "2030-03-12" and resident["resident"]["status"] == "paused"

    assert client.post(f"{url}/end", headers=token).json()["ended"] is True
    assert client.post(f"{url}/end", headers=token).json()["ended"] is False
    assert status_of(services, chen) == ResidentStatus.ACTIVE
    outside = client.post(f"{API}/residents/{feng}/absence", json=body, headers={**token, "Idempotency-Key": "a-3"})
    assert is_error(outside, 404) and absences(services) == 1
    opted_out = f"{API}/residents/{town['周阿姨']}/absence"
    assert is_error(client.post(opted_out, json=body, headers={**token, "Idempotency-Key": "a-4"}), 409)
