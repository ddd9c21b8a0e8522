"""The console's SMS views (what came in, what went out, what was not delivered), each scoped like every list, and
the one SMS staff send from a resident's page: through the outbox and a real worker to the local gateway, once per
form, audited without its words or the number, capped per member of staff."""

from __future__ import annotations

import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, true
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import Community, InboundMessage, OutboundMessage, Resident, StaffRole, Task, TriageItem, utcnow
from dispatch.staff_sms import StaffSmsRefused, send_staff_sms
from hotline.services import Services
from tests.conftest import local_outbox, post_signed, run_worker, sent_to, sms_params
from tests.console_helpers import make_user
from tests.console_register_helpers import ADMIN, Principal, as_user, audit_entries, make_people

LIANG, DAYE, ZHAO = "+8613800138000", "+8613800138001", "+8613800138002"
ZHANG, LI = "+8613912345678", "+8613912345679"


def rows(page: str) -> list[str]:
    """The message list's rows, top first."""
    table = page[page.index('id="message-list"') :] if 'id="message-list"' in page else ""
    return re.findall(r"<tr data-message=\"\d+\">(.*?)</tr>", table, re.S)


def each_writes(client: TestClient, services: Services) -> None:
    """梁阿姨 (grid 1), 王大爷 (grid 2) and 赵奶奶 (another community) text the hotline, in that order."""
    for phone, body in ((LIANG, "帮我买药"), (DAYE, "王大爷要买米"), (ZHAO, "赵奶奶想理发")):
        assert post_signed(client, services, "/twilio/sms", sms_params(body, from_phone=phone)).status_code == 200
    run_worker(services)


def test_the_inbox_and_outbox_show_the_staff_members_scope_in_words_newest_first(
    client: TestClient, services: Services
) -> None:
    people = make_people(services)
    each_writes(client, services)
    as_user(client, "clerk")
    inbox = client.get("/messages")
    assert inbox.status_code == 200
    lines = rows(inbox.text)
    assert len(lines) == 2, inbox.text
    assert "王大爷要买米" in lines[0] and "帮我买药" in lines[1]  # newest first
    assert "梁阿姨" in lines[1] and "居民" in lines[1] and "138****8000" in lines[1]
    assert f'href="/register/residents/{people["梁阿姨"]}"' in lines[1]
    assert "赵奶奶" not in inbox.text  # another community's
    assert "13800138000" not in inbox.text and "138 0013 8000" not in inbox.text  # masked, as the register's list
    sent = client.get("/messages/sent").text
    offers = [line for line in rows(sent) if "回复“接1”接单" in line]  # the task's offer to the liaison
    assert offers and all("联络员" in line and "139****5678" in line for line in offers)
    assert any("已发出" in line and "梁阿姨" in line for line in rows(sent))  # the receipt, in words
    assert "赵奶奶" not in sent and "pending" not in sent and "sent<" not in sent
    assert "138 0013 8000" not in sent and "***8000" in offers[0]  # the number in the offer's words is masked too

    as_user(client, "leader1")  # grid 1 only
    inbox_lines = rows(client.get("/messages").text)
    assert len(inbox_lines) == 1 and "帮我买药" in inbox_lines[0]
    assert "王大爷" not in client.get("/messages/sent").text

    as_user(client, "admin")  # everyone, with a community filter
    assert len(rows(client.get("/messages").text)) == 3
    with services.readonly() as session:
        other = session.scalar(select(Community.id).where(Community.name == "和平社区"))
    only = client.get(f"/messages?community={other}").text
    assert [("赵奶奶想理发" in line) for line in rows(only)] == [True]
    assert f'<option value="{other}" selected>' in only


def test_a_failed_delivery_is_listed_in_words_with_a_way_to_the_persons_page(
    client: TestClient, services: Services
) -> None:
    people = make_people(services)
    each_writes(client, services)
    with services.readonly() as session:
        receipts = {
            phone: session.execute(
                select(OutboundMessage.id, OutboundMessage.provider_sid).where(OutboundMessage.to_phone == phone)
            ).one()
            for phone in (LIANG, ZHAO)
        }
    for row_id, sid in receipts.values():
        report = {"MessageSid": str(sid), "MessageStatus": "undelivered", "ErrorCode": "30003"}
        assert post_signed(client, services, f"/twilio/status?o={row_id}", report).status_code == 204
    as_user(client, "clerk")
    failed = client.get("/messages/failed").text
    lines = rows(failed)
    assert len(lines) == 1, failed  # 赵奶奶's is another community's
    assert "梁阿姨" in lines[0] and "未送达" in lines[0] and "手机关机、停机或被拦截" in lines[0]
    assert f'href="/register/residents/{people["梁阿姨"]}#send-sms"' in lines[0]
    assert "赵奶奶" not in failed


def test_the_views_page_back_fifty_at_a_time(client: TestClient, services: Services) -> None:
    make_people(services)
    start = utcnow() - timedelta(hours=2)
    with services.sessions.begin() as session:
        session.add_all(
            InboundMessage(
                provider_sid=f"SM{n:032d}",
                from_phone=LIANG,
                to_phone="+8657100000000",
                body=f"第{n}条",
                received_at=start + timedelta(minutes=n),
            )
            for n in range(1, 56)
        )
    as_user(client, "clerk")
    first = client.get("/messages").text
    assert len(rows(first)) == 50 and "第55条" in rows(first)[0] and "第6条" in rows(first)[-1]
    assert 'href="/messages?page=2"' in first
    second = rows(client.get("/messages?page=2").text)
    assert [line for line in second if "第5条" in line] and len(second) == 5 and "第1条" in second[-1]


def send_form(client: TestClient, resident_id: int) -> dict[str, str]:
    """The send-an-SMS form of the resident's page: its key and the recipients it offers."""
    page = client.get(f"/register/residents/{resident_id}").text
    form = page[page.index('id="send-sms"') : page.index("</form>", page.index('id="send-sms"'))]
    key = re.search(r'name="request_key" value="([^"]+)"', form)
    assert key, form
    return {"request_key": key.group(1), "to": ",".join(re.findall(r'<option value="(\w+)"', form))}


def test_staff_send_one_sms_from_the_residents_page_once_for_a_double_click(
    client: TestClient, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    people = make_people(services)
    csrf = as_user(client, "clerk")
    form = send_form(client, people["梁阿姨"])
    assert form["to"] == "resident,liaison,backup"
    body = "梁阿姨您好，社区明天上午来送药，请在家等候。"
    fields = {"request_key": form["request_key"], "to": "resident", "body": body, "csrf_token": csrf}
    caplog.set_level(logging.DEBUG)
    for _ in range(2):  # a double click
        answer = client.post(f"/register/residents/{people['梁阿姨']}/sms", data=fields, follow_redirects=False)
        assert answer.status_code == 303, answer.text
    run_worker(services)
    assert sent_to(services, LIANG) == [body]
    shown = client.get(answer.headers["location"]).text
    assert "短信已交给网关发送给居民" in shown
    thread = shown[shown.index('id="sms"') : shown.index('id="send-sms"')]
    assert body in thread and "热线发出" in thread
    entries = audit_entries(services, "sms")
    assert len(entries) == 1 and entries[0].object_id == people["梁阿姨"] and entries[0].actor.startswith("staff:")
    assert "to=resident:" in entries[0].detail
    assert body not in entries[0].detail and "13800138000" not in entries[0].detail
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert body not in logged and "13800138000" not in logged

    # To the liaison, with a new form; the old form's key with other words is refused, not read as the first.
    form = send_form(client, people["梁阿姨"])
    to_liaison = {**fields, "request_key": form["request_key"], "to": "liaison", "body": "请今天去看看梁阿姨"}
    assert client.post(f"/register/residents/{people['梁阿姨']}/sms", data=to_liaison).status_code == 200
    reused = client.post(f"/register/residents/{people['梁阿姨']}/sms", data={**fields, "body": "另一条"})
    assert reused.status_code == 422 and "这张表已经发过一条不同的短信" in reused.text
    run_worker(services)
    assert sent_to(services, ZHANG) == ["请今天去看看梁阿姨"] and sent_to(services, LIANG) == [body]


def test_a_refused_sms_says_why_in_words_and_sends_nothing(client: TestClient, services: Services) -> None:
    people = make_people(services)
    services.settings = replace(services.settings, staff_sms_per_hour=2)
    csrf = as_user(client, "clerk")
    url = f"/register/residents/{people['梁阿姨']}/sms"

    def post(body: str, to: str = "resident") -> str:
        fields = {"request_key": send_form(client, people["梁阿姨"])["request_key"], "to": to, "body": body}
        answer = client.post(url, data={**fields, "csrf_token": csrf})
        return f"{answer.status_code} {answer.text}"

    too_long = post("药" * 301, to="liaison")
    assert too_long.startswith("422") and "短信有 301 字，最多 300 字" in too_long
    assert "药" * 301 in too_long and '<option value="liaison" selected>' in too_long  # kept, to shorten and resend
    assert post("   ").startswith("422")
    assert post("好", to="somebody").startswith("422")
    assert post("第一条").startswith("200") and post("第二条").startswith("200")
    over = post("第三条")
    assert over.startswith("429") and "您一小时内已发了 2 条短信，达到上限" in over
    csrf = as_user(client, "admin")  # the cap is each member of staff's own
    assert post("管理员的一条").startswith("200")
    # Outside the scope: the same 404 as a resident who does not exist, and nothing decided.
    csrf = as_user(client, "clerk")
    outside = client.post(
        f"/register/residents/{people['赵奶奶']}/sms",
        data={"request_key": "k" * 16, "to": "resident", "body": "你好", "csrf_token": csrf},
    )
    assert outside.status_code == 404
    run_worker(services)
    assert sent_to(services, LIANG) == ["第一条", "第二条", "管理员的一条"]
    assert sent_to(services, ZHAO) == []
    with services.readonly() as session:
        assert session.scalar(select(func.count()).select_from(OutboundMessage)) == 3
    assert len(local_outbox(services)) == 3


def test_two_sends_at_once_decide_one_sms_for_one_key_and_keep_the_cap(services: Services) -> None:
    """Two requests of one member of staff at the same moment: serialised, so the same key sends once and two keys
    cannot both slip under a cap of one."""
    people = make_people(services)

    def send(key: str, actor: Principal) -> str:
        barrier.wait()
        try:
            with services.sessions.begin() as session:
                sent = send_staff_sms(
                    session,
                    people["梁阿姨"],
                    "resident",
                    "您好",
                    request_key=key,
                    actor=actor,
                    where=true(),
                    now=utcnow(),
                    per_hour=1,
                )
            return "sent" if sent.created else "found"
        except StaffSmsRefused as exc:
            return exc.code

    other = replace(ADMIN, audit_ref="staff:98")
    for keys, actor, expected in (
        (("same-key-1", "same-key-1"), ADMIN, ["found", "sent"]),  # a double click: one SMS
        (("other-key-2", "other-key-3"), other, ["over_cap", "sent"]),  # two forms at once, a cap of one
    ):
        barrier = threading.Barrier(2)
        with ThreadPoolExecutor(2) as pool:
            assert sorted(pool.map(send, keys, (actor, actor))) == expected
    with services.readonly() as session:
        assert session.scalar(select(func.count()).select_from(OutboundMessage)) == 2


def test_an_unknown_number_shows_to_its_communitys_clerk_with_its_triage_item(
    client: TestClient, services: Services
) -> None:
    make_people(services)
    with services.sessions.begin() as session:
        register.find_or_create_community(session, "幸福里社区").duty_phone = "+8657100000001"
    stranger = {**sms_params("我是梁阿姨的女儿", from_phone="+8613700000101"), "To": "+8657100000001"}
    assert post_signed(client, services, "/twilio/sms", stranger).status_code == 200
    run_worker(services)
    with services.readonly() as session:
        item = session.scalar(select(TriageItem.id).where(TriageItem.phone == "+8613700000101"))
    as_user(client, "clerk")
    lines = rows(client.get("/messages").text)
    assert len(lines) == 1 and "未登记号码" in lines[0] and f'href="/triage/{item}"' in lines[0]
    assert "137****0101" in lines[0] and "我是梁阿姨的女儿" in lines[0]
    assert any(f'href="/triage/{item}"' in line for line in rows(client.get("/messages/sent").text))  # the reply
    as_user(client, "leader1")  # grid leaders do not triage unknown numbers
    assert "我是梁阿姨的女儿" not in client.get("/messages").text


def test_a_liaison_who_serves_two_communities_shows_each_only_its_own_errands(
    client: TestClient, services: Services
) -> None:
    """张敏 serves 梁阿姨 (幸福里社区, grid 1) and 赵奶奶 (和平社区). What is about 赵奶奶, or could be (张敏's own
    words with no task), is not shown to 幸福里社区's clerk or grid leader; a task's SMS shows to those who see the
    task."""
    people = make_people(services)
    make_user(services, "clerk_b", StaffRole.CLERK, community="和平社区")
    with services.sessions.begin() as session:
        zhao = session.get(Resident, people["赵奶奶"])
        assert zhao is not None
        zhao.household.primary_liaison_id = people["张敏"]
    csrf = as_user(client, "admin")  # an SMS to 张敏 about 赵奶奶, from 赵奶奶's page
    fields = {**send_form(client, people["赵奶奶"]), "to": "liaison", "body": "她说胸口疼，请去看看"}
    fields["csrf_token"] = csrf
    assert client.post(f"/register/residents/{people['赵奶奶']}/sms", data=fields).status_code == 200
    for phone, body in ((ZHAO, "帮我买药"), (ZHANG, "好的我这就过去看她")):
        assert post_signed(client, services, "/twilio/sms", sms_params(body, from_phone=phone)).status_code == 200
        run_worker(services)
    with services.readonly() as session:
        task = session.scalar(select(Task.id).join(Resident, Resident.household_id == Task.household_id))
    assert post_signed(client, services, "/twilio/sms", sms_params(f"接{task}", from_phone=ZHANG)).status_code == 200
    run_worker(services)
    assert any(body.startswith(f"已接单#{task}") for body in sent_to(services, ZHANG))

    for user in ("clerk", "leader1"):
        as_user(client, user)
        inbox, sent = client.get("/messages").text, client.get("/messages/sent").text
        assert "好的我这就过去看她" not in inbox and f"接{task}" not in inbox and "帮我买药" not in inbox, user
        assert "胸口疼" not in sent and f"已接单#{task}" not in sent and "赵奶奶" not in sent, user
    as_user(client, "clerk_b")  # 赵奶奶's community: her task's SMS, but not 张敏's own words, which may be 梁阿姨's
    inbox, sent = client.get("/messages").text, client.get("/messages/sent").text
    assert "帮我买药" in inbox and "好的我这就过去看她" not in inbox
    assert f"已接单#{task}" in sent and "胸口疼" not in sent
    as_user(client, "admin")  # everything
    inbox, sent = client.get("/messages").text, client.get("/messages/sent").text
    assert "好的我这就过去看她" in inbox and f"接{task}" in inbox and "帮我买药" in inbox
    assert "胸口疼" in sent and f"已接单#{task}" in sent


def test_a_failed_sms_to_a_liaison_links_to_the_liaisons_details_for_staff_who_manage_them(
    client: TestClient, services: Services
) -> None:
    people = make_people(services)
    csrf = as_user(client, "clerk")
    fields = {**send_form(client, people["梁阿姨"]), "to": "liaison", "body": "请今天去看看梁阿姨", "csrf_token": csrf}
    assert client.post(f"/register/residents/{people['梁阿姨']}/sms", data=fields).status_code == 200
    run_worker(services)
    with services.readonly() as session:
        row_id, sid = session.execute(
            select(OutboundMessage.id, OutboundMessage.provider_sid).where(OutboundMessage.to_phone == ZHANG)
        ).one()
    report = {"MessageSid": str(sid), "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert post_signed(client, services, f"/twilio/status?o={row_id}", report).status_code == 204
    page = f"/people/liaisons/{people['张敏']}/edit"
    lines = rows(client.get("/messages/failed").text)
    assert len(lines) == 1 and "张敏" in lines[0] and f'href="{page}">打开联络员资料' in lines[0]
    assert client.get(page).status_code == 200
    as_user(client, "leader1")  # a grid leader sees the line, and has no liaison's details to open
    lines = rows(client.get("/messages/failed").text)
    assert len(lines) == 1 and "张敏" in lines[0] and "/people/liaisons/" not in lines[0]
