"""Family told by call: a care-circle contact set to `call` hears the welcome, the missed deadline and the visit by
an automated call that says the words twice, once each; a contact on SMS still gets SMS; where the community's
channels place no spoken calls the same words go as an SMS. Staff set the way on the resident's page and through the
API; a bad value is refused, nothing written.

Real parts: SQLite (or PostgreSQL), redis-server, RQ workers, Starlette's TestClient, the SMS and voice webhooks
with Twilio's signature, the local gateway; the phones are played by the test.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.channels import CHANNELS
from dispatch.checkins import missed_checkin_ladder
from dispatch.models import CircleContact, OutboundMessage, Resident, StaffRole, TaskCategory
from dispatch.texts import MessageCatalog
from hotline.services import Services
from tests.api_helpers import API, bearer, issue
from tests.checkin_helpers import calls_to, checkin_of, texts_to, tick
from tests.conftest import LIAISON_PHONE, Clock, at, local_outbox, post_signed, run_worker, tasks
from tests.console_register_helpers import as_user, make_people
from tests.test_care_circle import DAUGHTER, add, family_says
from tests.test_care_circle_staff import circle_key, contacts
from workers.queues import enqueue_send_many

SON = "+8613700000005"  # 赵姐's son: told by SMS
STOP_WORDS = "如不想再接到这些通知，请告诉社区工作人员"


def said(client: TestClient, services: Services, url: str, phone: str) -> str:
    """What the call placed to `url` says when the phone answers it: Twilio fetches its words, signed."""
    parts = urlsplit(url)
    params = {"CallSid": "CA" + "2" * 32, "From": "+10000000000", "To": phone, "CallStatus": "in-progress"}
    answer = post_signed(client, services, f"{parts.path}?{parts.query}", params)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/xml")
    return answer.text


def circle_rows(services: Services, phone: str) -> list[tuple[str, str]]:
    """The outbox rows decided for `phone` by the care circle: (kind, dedupe key)."""
    with services.readonly() as session:
        rows = session.execute(
            select(OutboundMessage.kind, OutboundMessage.dedupe_key)
            .where(OutboundMessage.to_phone == phone, OutboundMessage.dedupe_key.startswith("circle:"))
            .order_by(OutboundMessage.id)
        )
        return [(row.kind, row.dedupe_key) for row in rows]


def test_a_contact_told_by_call_hears_the_deadline_and_the_visit_by_call_once_and_sms_stays_sms(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    daughter = add(services, town["赵姐"], "赵芳", "女儿", DAUGHTER, tell_by="call")
    add(services, town["赵姐"], "赵强", "儿子", SON)
    run_worker(services)
    [welcome] = calls_to(services, DAUGHTER)
    assert texts_to(services, DAUGHTER) == []
    words = said(client, services, welcome.body, DAUGHTER)
    assert words.count("赵芳您好") == 2 and words.count(STOP_WORDS) == 2 and "<Pause" in words  # said twice
    assert "退订" not in words and "可回复" not in words and "平安" not in words  # nothing to reply to on a call
    [son_welcome] = texts_to(services, SON)
    assert "退订" in son_welcome and calls_to(services, SON) == []

    tick(services, clock, "08:00")
    tick(services, clock, "09:00")
    tick(services, clock, "11:00")
    tick(services, clock, "12:00")
    [_, deadline] = calls_to(services, DAUGHTER)
    words = said(client, services, deadline.body, DAUGHTER)
    assert words.count("赵姐今天的签到到时仍未回复") == 2 and words.count(STOP_WORDS) == 2
    assert texts_to(services, DAUGHTER) == []
    assert len([t for t in texts_to(services, SON) if "签到到时仍未回复" in t and "回复退订" in t]) == 1

    # The visit step run again (a retried job): nothing more to anyone.
    checkin = checkin_of(services, town["赵姐"])
    with services.sessions.begin() as session:
        again = session.get(type(checkin), checkin.id)
        assert again is not None
        enqueue_send_many(services.redis, missed_checkin_ladder._visit(session, again, at("12:01"), services.intake))
    tick(services, clock, "12:02")
    assert len(calls_to(services, DAUGHTER)) == 2

    # The liaison takes the visit, twice: one call saying who is on the way.
    visit = next(t for t in tasks(services) if t.category == TaskCategory.VISIT and t.resident_id == town["赵姐"])
    family_says(client, services, clock, "12:05", LIAISON_PHONE, f"接{visit.id}")
    family_says(client, services, clock, "12:06", LIAISON_PHONE, f"接{visit.id}")
    [_, _, on_the_way] = calls_to(services, DAUGHTER)
    words = said(client, services, on_the_way.body, DAUGHTER)
    assert words.count("联络员张敏已接单，正前往赵姐家中查看") == 2
    assert len([t for t in texts_to(services, SON) if "正前往" in t]) == 1
    assert texts_to(services, DAUGHTER) == []
    assert circle_rows(services, DAUGHTER) == [
        ("call", f"circle:welcome:{daughter}:{DAUGHTER}:call"),
        ("call", f"circle:checkin:{checkin.id}:no-answer:{daughter}"),
        ("call", f"circle:checkin:{checkin.id}:on-the-way:{daughter}"),
    ]


def test_a_hospital_stay_is_said_by_call_to_a_contact_told_by_call(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    add(services, town["赵姐"], "赵芳", "女儿", DAUGHTER, tell_by="call")
    run_worker(services)
    back = (clock.now + timedelta(days=6)).date().isoformat()
    token = bearer(issue(services))
    stay = {"reason": "hospital", "return_on": back, "tell_family": True}
    for _ in range(2):  # sent again: told once
        answer = client.post(
            f"{API}/residents/{town['赵姐']}/absence", json=stay, headers={**token, "Idempotency-Key": "h-1"}
        )
        assert answer.status_code in (200, 201), answer.text
    run_worker(services)
    [_, hospital] = calls_to(services, DAUGHTER)
    words = said(client, services, hospital.body, DAUGHTER)
    assert words.count("赵姐住院了") == 2 and back in words and words.count(STOP_WORDS) == 2


@pytest.mark.parametrize("where", ["the community chose no calls", "the hotline calls through Tencent"])
def test_where_the_channels_place_no_spoken_calls_the_same_words_go_as_an_sms(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int], where: str
) -> None:
    if where == "the community chose no calls":
        with services.sessions.begin() as session:
            resident = session.get(Resident, town["赵姐"])
            assert resident is not None and resident.household.community is not None
            resident.household.community.call_gateway = "none"
    else:  # Tencent's voice messages say only the approved check-in template: no text of their own
        services.intake = dataclasses.replace(services.intake, calls=CHANNELS["tencent"])
    add(services, town["赵姐"], "赵芳", "女儿", DAUGHTER, tell_by="call")
    run_worker(services)
    tick(services, clock, "08:00")
    tick(services, clock, "09:00")
    tick(services, clock, "11:00")
    tick(services, clock, "12:00")
    assert calls_to(services, DAUGHTER) == []
    texts = texts_to(services, DAUGHTER)
    assert any(t.startswith("赵芳您好，这里是社区热线") and STOP_WORDS in t for t in texts)
    assert len([t for t in texts if "赵姐今天的签到到时仍未回复" in t]) == 1
    assert [kind for kind, _ in circle_rows(services, DAUGHTER)] == ["call", "call"]  # decided as calls


def test_each_spoken_text_asks_no_reply_and_says_how_to_stop() -> None:
    catalog = MessageCatalog.load()
    values = {"resident_name": "赵姐", "contact_name": "赵芳", "liaison_name": "张敏", "return_on": "2026-12-20"}
    for key in ("circle_welcome", "circle_no_answer", "circle_on_the_way", "circle_hospital"):
        zh = catalog.render(f"{key}_call", "zh-CN", relation="女儿", **values)
        en = catalog.render(f"{key}_call", "en", relation="daughter", **values)
        assert zh.endswith(STOP_WORDS + "。") and "退订" not in zh and "可回复" not in zh, key
        assert en.endswith("To stop these messages, tell the community office.") and "reply" not in en.lower(), key
        assert "赵姐" in zh and "赵姐" in en, key


def test_staff_choose_sms_or_call_on_the_residents_page(client: TestClient, services: Services) -> None:
    people = make_people(services)
    token = as_user(client, "clerk")
    url = f"/register/residents/{people['梁阿姨']}"
    page = client.get(url).text
    assert 'name="tell_by"' in page and ">短信<" in page and ">电话（自动语音）<" in page
    form = {
        "csrf_token": token,
        "request_key": circle_key(page),
        "name": "王芳",
        "relation": "女儿",
        "phone": "137 0000 0001",
        "language": "zh-CN",
        "consent_way": "in_person",
        "tell_by": "call",
    }
    for _ in range(2):  # a double click
        assert client.post(f"{url}/circle", data=form, follow_redirects=False).status_code == 303
    [contact] = contacts(services)
    assert contact.tell_by == "call"
    assert "会接到电话（自动语音）" in client.get(url).text
    run_worker(services)
    assert [e.kind for e in local_outbox(services) if e.to_phone == DAUGHTER] == ["call"]

    bad = client.post(f"{url}/circle/{contact.id}", data={**form, "tell_by": "fax", "name": "王芳芳"})
    assert bad.status_code == 422 and "请从列表里选择怎样通知" in bad.text
    assert (contacts(services)[0].tell_by, contacts(services)[0].name) == ("call", "王芳")  # nothing written
    fresh = {**form, "request_key": uuid.uuid4().hex, "phone": "137 0000 0002", "tell_by": "fax"}
    assert client.post(f"{url}/circle", data=fresh).status_code == 422
    assert len(contacts(services)) == 1

    edited = client.post(f"{url}/circle/{contact.id}", data={**form, "tell_by": "sms"}, follow_redirects=False)
    assert edited.status_code == 303 and contacts(services)[0].tell_by == "sms"
    shown = client.get(url).text
    assert "会收到短信" in shown and "会接到电话" not in shown
    run_worker(services)  # the welcome by SMS now, as they were never texted one
    assert [e.kind for e in local_outbox(services) if e.to_phone == DAUGHTER] == ["call", "sms"]


def test_the_api_takes_and_returns_the_way_and_refuses_a_bad_one(client: TestClient, services: Services) -> None:
    people = make_people(services)
    headers = bearer(issue(services, StaffRole.CLERK, community="幸福里社区"))
    url = f"{API}/residents/{people['梁阿姨']}/circle"
    body = {"name": "王芳", "relation": "女儿", "phone": "13700000001", "consent_way": "by_phone"}
    bad = client.post(url, json={**body, "tell_by": "phone"}, headers={**headers, "Idempotency-Key": "c-0"})
    assert bad.status_code == 422 and "tell_by" in bad.json()["error"] and "sms, call" in bad.json()["error"]
    with services.readonly() as session:
        assert session.scalars(select(CircleContact)).all() == []
    made = client.post(url, json={**body, "tell_by": "call"}, headers={**headers, "Idempotency-Key": "c-1"})
    assert made.status_code == 201 and made.json()["contact"]["tell_by"] == "call"
    plain = {**body, "phone": "13700000002"}
    second = client.post(url, json=plain, headers={**headers, "Idempotency-Key": "c-2"})
    assert second.status_code == 201 and second.json()["contact"]["tell_by"] == "sms"  # the default
    read = client.get(url, headers=headers).json()
    assert [c["tell_by"] for c in read["contacts"]] == ["call", "sms"]
    run_worker(services)
    assert [e.kind for e in local_outbox(services) if e.to_phone == DAUGHTER] == ["call"]
