"""A resident's medicines in the console (the calendar on the resident's page, the add, change, refill and stop
forms) and through the API: the dates shown, clear refusals in words with nothing written, repeats that change
nothing."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import AuditEntry, Medicine, Resident, StaffRole
from hotline.services import Services
from tests.api_helpers import API, bearer, issue
from tests.conftest import Clock, at
from tests.console_helpers import make_user, sign_in

TODAY = date(2030, 3, 4)  # the clock fixture's day


@pytest.fixture
def page_of(services: Services, community: None, clock: Clock) -> str:
    with services.readonly() as session:
        found = session.scalar(select(Resident.id).where(Resident.name == "梁阿姨"))
    assert found is not None
    return f"/register/residents/{found}"


def count(services: Services) -> int:
    with services.readonly() as session:
        return session.scalar(select(func.count()).select_from(Medicine)) or 0


def text_of(response: object) -> str:
    words = html.unescape(re.sub(r"<[^>]+>", " ", response.text))  # type: ignore[attr-defined]
    return re.sub(r"\s+", " ", words)


def add(client: TestClient, csrf: str, url: str, key: str = "k1", **fields: str) -> object:
    form = {"csrf_token": csrf, "request_key": key, "name": "降压药 氨氯地平", "days_supply": "30", **fields}
    return client.post(f"{url}/medicines", data=form, follow_redirects=False)


def test_the_resident_page_shows_each_medicines_dates_and_the_month(
    client: TestClient, services: Services, page_of: str
) -> None:
    make_user(services)
    csrf = sign_in(client)
    assert "还没有登记常用药" in text_of(client.get(page_of))
    added = add(client, csrf, page_of, last_refill="2030-02-10", dose="每日一片")
    assert added.status_code == 303  # type: ignore[attr-defined]
    again = add(client, csrf, page_of, last_refill="2030-02-10", dose="每日一片")  # a double click
    assert again.status_code == 303 and count(services) == 1  # type: ignore[attr-defined]
    add(client, csrf, page_of, key="k2", name="二甲双胍", days_supply="60", last_refill="2030-01-01")
    add(client, csrf, page_of, key="k3", name="钙片")  # no refill date
    shown = text_of(client.get(page_of))
    # 降压药: 10 Feb + 30 days runs out on 12 March, its task on 9 March; 二甲双胍 ran out on 2 March.
    assert "2030-03-12" in shown and "2030-03-09" in shown
    assert "已经吃完了（2030-03-02）" in shown
    assert "没有上次续药日期：不会自动派单，请补上" in shown
    assert "2030年3月：续药日、派单日和吃完日" in shown
    assert "派单：降压药 氨氯地平" in shown and "吃完：降压药 氨氯地平" in shown and "吃完：二甲双胍" in shown
    assert "4 （今天）" in shown


def test_bad_input_is_refused_in_words_and_writes_nothing(client: TestClient, services: Services, page_of: str) -> None:
    make_user(services)
    csrf = sign_in(client)
    for fields, said in (
        ({"days_supply": "0"}, "一次续药够吃的天数要写 1 到 365 之间的整数。"),
        ({"days_supply": "366"}, "一次续药够吃的天数要写 1 到 365 之间的整数。"),
        ({"days_supply": "三十"}, "一次续药够吃的天数要写 1 到 365 之间的整数。"),
        ({"last_refill": "2030-03-05"}, "续药日期不能晚于今天（2030-03-04）。"),
        ({"last_refill": "3月1日"}, "日期请写成 2030-03-01 这样"),
        ({"name": "  "}, "请写药名，1 到 100 个字。"),
        ({"lead_days": "31"}, "提前派单的天数要写 0 到 30 之间的整数。"),
    ):
        refused = add(client, csrf, page_of, key="bad", **fields)
        assert refused.status_code == 422, fields  # type: ignore[attr-defined]
        assert said in text_of(refused), fields
    assert count(services) == 0
    no_csrf = client.post(f"{page_of}/medicines", data={"request_key": "x", "name": "药", "days_supply": "3"})
    assert no_csrf.status_code == 403 and count(services) == 0


def test_change_refill_and_stop_on_the_medicines_page(
    client: TestClient, services: Services, page_of: str, clock: Clock
) -> None:
    make_user(services)
    csrf = sign_in(client)
    add(client, csrf, page_of, last_refill="2030-02-10")
    with services.readonly() as session:
        medicine_id = session.scalars(select(Medicine.id)).one()
    url = f"{page_of}/medicines/{medicine_id}"
    assert "2030-03-12" in text_of(client.get(url))
    changed = client.post(
        url, data={"csrf_token": csrf, "name": "降压药", "days_supply": "28", "last_refill": "2030-02-10"}
    )
    assert changed.status_code == 200 and "已保存" in text_of(changed)
    assert "2030-03-10" in text_of(changed)  # 10 Feb + 28 days
    future = client.post(f"{url}/refill", data={"csrf_token": csrf, "refill_date": "2030-03-05"})
    assert future.status_code == 422 and "续药日期不能晚于今天（2030-03-04）" in text_of(future)
    refilled = client.post(f"{url}/refill", data={"csrf_token": csrf, "refill_date": ""})  # blank: today
    assert refilled.status_code == 200 and "续药已记下" in text_of(refilled)
    assert "2030-04-01" in text_of(refilled)  # 4 March + 28 days
    client.post(f"{url}/refill", data={"csrf_token": csrf, "refill_date": ""})  # a repeat changes nothing
    with services.readonly() as session:
        refills = session.scalar(select(func.count()).where(AuditEntry.action == "refill"))
    assert refills == 1
    stopped = client.post(f"{url}/stop", data={"csrf_token": csrf})
    assert stopped.status_code == 200 and "这种药已停用" in text_of(stopped)
    assert "已停用" in text_of(client.get(page_of))
    late = client.post(f"{url}/refill", data={"csrf_token": csrf})
    assert late.status_code == 409 and "这种药已停用；要再用，请重新登记" in text_of(late)
    assert client.get(f"{page_of}/medicines/999999").status_code == 404


def test_a_clerk_of_another_community_cannot_see_or_change_them(
    client: TestClient, services: Services, page_of: str
) -> None:
    make_user(services)
    csrf = sign_in(client)
    add(client, csrf, page_of, last_refill="2030-02-10")
    with services.readonly() as session:
        medicine_id = session.scalars(select(Medicine.id)).one()
    client.post("/logout", data={"csrf_token": csrf})
    with services.sessions.begin() as session:
        register.find_or_create_community(session, "别的社区")
    make_user(services, "clerk_b", StaffRole.CLERK, community="别的社区")
    csrf = sign_in(client, "clerk_b")
    assert client.get(f"{page_of}/medicines/{medicine_id}").status_code == 404
    assert add(client, csrf, page_of, key="b").status_code == 404  # type: ignore[attr-defined]
    assert client.post(f"{page_of}/medicines/{medicine_id}/stop", data={"csrf_token": csrf}).status_code == 404
    assert count(services) == 1


def test_the_api_lists_adds_once_per_key_and_records_a_refill(
    client: TestClient, services: Services, page_of: str, clock: Clock
) -> None:
    secret = issue(services, StaffRole.CLERK, community="幸福里社区")
    url = f"{API}/residents/{page_of.rsplit('/', 1)[1]}/medicines"
    body = {"name": "降压药", "days_supply": 30, "last_refill": "2030-02-10", "lead_days": 5}
    missing_key = client.post(url, json=body, headers=bearer(secret))
    assert missing_key.status_code == 400 and "Idempotency-Key" in missing_key.json()["error"]
    made = client.post(url, json=body, headers={**bearer(secret), "Idempotency-Key": "m1"})
    assert made.status_code == 201, made.text
    medicine = made.json()["medicine"]
    assert (medicine["runs_out_on"], medicine["task_on"], medicine["state"]) == ("2030-03-12", "2030-03-07", "ok")
    again = client.post(url, json=body, headers={**bearer(secret), "Idempotency-Key": "m1"})
    assert again.status_code == 200 and again.json()["medicine"]["id"] == medicine["id"] and count(services) == 1
    for bad, field in (
        ({**body, "days_supply": 0}, "days_supply"),
        ({**body, "last_refill": "2030-03-05"}, "last_refill"),
    ):
        refused = client.post(url, json=bad, headers={**bearer(secret), "Idempotency-Key": f"bad-{field}"})
        assert refused.status_code == 422 and field in refused.text, refused.text
    assert (
        client.post(
            url, content=b"{", headers={**bearer(secret), "Idempotency-Key": "x", "Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert count(services) == 1
    listed = client.get(url, headers=bearer(secret)).json()["medicines"]
    assert [m["name"] for m in listed] == ["降压药"]
    refill = f"{url}/{medicine['id']}/refill"
    clock.now = at("10:00", TODAY + timedelta(days=1))
    done = client.post(refill, json={"date": None}, headers={**bearer(secret), "Idempotency-Key": "r1"})
    assert done.status_code == 200 and done.json()["changed"] is True
    assert done.json()["medicine"]["last_refill"] == "2030-03-05"
    repeat = client.post(refill, json={"date": "2030-03-05"}, headers={**bearer(secret), "Idempotency-Key": "r1"})
    assert repeat.status_code == 200 and repeat.json()["changed"] is False
    future = client.post(refill, json={"date": "2030-03-06"}, headers={**bearer(secret), "Idempotency-Key": "r2"})
    assert future.status_code == 422
    assert (
        client.post(f"{url}/999999/refill", json={}, headers={**bearer(secret), "Idempotency-Key": "r3"}).status_code
        == 404
    )
