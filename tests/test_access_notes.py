"""A household's access notes (who holds a key, the door code, a short note) go on its visit tasks only: the offer
SMS to whoever the visit is offered to, up the ladder, and the taker's confirmation; never an SMS about another
task or another household. The door code stays out of log lines, audit entries, task history and staff views of
sent SMS. Staff in scope set and read them on the resident's page and through the API; nobody else can."""

from __future__ import annotations

import logging
import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from dispatch.models import AuditEntry, Grid, HouseholdAccess, StaffRole, Task, TaskCategory, TaskEvent
from dispatch.register.access_notes import set_access
from dispatch.segments import count_segments
from dispatch.staff_accounts import household_scope
from dispatch.tasks import escalation as ladder
from dispatch.tasks.task_texts import hide_door_code
from hotline.jobs.sends import deliver_sms
from hotline.services import Services
from tests.api_helpers import API, bearer, issue
from tests.checkin_helpers import reply, texts_to, tick
from tests.conftest import (
    BACKUP_PHONE,
    LEADER_PHONE,
    LIAISON_PHONE,
    PHONES,
    Clock,
    post_signed,
    run_worker,
    sms_params,
    tasks,
)
from tests.console_helpers import make_user
from tests.console_register_helpers import ADMIN, as_user, audit_entries, make_people

ZHAO_NOTES = {"key_holder_name": "李四", "key_holder_relation": "邻居", "key_holder_phone": "13700000009"}
ZHAO_CODE, WU_CODE, WANG_CODE = "4321#", "8866*", "51B50"
ZHAO_ACCESS = "；钥匙：李四（邻居） 137 0000 0009；门码：4321#；注意：有狗，先敲门"


def set_notes(services: Services, resident_id: int, **values: str) -> list[str]:
    with services.sessions.begin() as session:
        return set_access(session, resident_id, values, actor=ADMIN, where=household_scope(ADMIN), region="CN")


def visit_of(services: Services, resident_id: int) -> Task:
    [task] = [t for t in tasks(services) if t.resident_id == resident_id and t.category == TaskCategory.VISIT]
    return task


def about(services: Services, phone: str, task: Task) -> list[str]:
    starts = (f"【社区热线】#{task.id}", f"已接单#{task.id}")
    return [body for body in texts_to(services, phone) if body.startswith(starts)]


def test_unanswered_check_ins_make_visits_whose_sms_carry_their_own_households_notes_only(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    set_notes(services, town["赵姐"], **ZHAO_NOTES, door_code=ZHAO_CODE, notes="有狗，先敲门")
    set_notes(services, town["吴叔"], door_code=WU_CODE)
    set_notes(services, town["王大爷"], door_code=WANG_CODE, notes="楼道灯坏了")
    tick(services, clock, "08:00")
    tick(services, clock, "09:00")
    for name in ("梁阿姨", "刘奶奶", "陈伯", "郑阿婆", "孙爷爷"):
        reply(client, services, clock, "09:05", name, "1")
    reply(client, services, clock, "09:06", "王大爷", "买药")  # a medicine task for a household with notes
    tick(services, clock, "11:00")
    tick(services, clock, "12:00")  # the deadline: urgent visits for 赵姐, 吴叔 (and nobody who answered)
    zhao, wu = visit_of(services, town["赵姐"]), visit_of(services, town["吴叔"])
    [medicine] = [t for t in tasks(services) if t.category == TaskCategory.MEDICINE]

    # 张敏 serves every household: each visit's offer carries its own household's notes, whole, and nothing else's.
    [zhao_offer] = about(services, LIAISON_PHONE, zhao)
    [wu_offer] = about(services, LIAISON_PHONE, wu)
    [medicine_offer] = about(services, LIAISON_PHONE, medicine)
    assert ZHAO_ACCESS in zhao_offer and "上门看看" in zhao_offer and WU_CODE not in zhao_offer
    assert "；门码：8866*" in wu_offer and ZHAO_CODE not in wu_offer and "李四" not in wu_offer
    assert "钥匙" not in wu_offer and "注意：" not in wu_offer  # only what is set
    assert WANG_CODE not in medicine_offer and "门码" not in medicine_offer and "楼道灯" not in medicine_offer
    assert count_segments(zhao_offer).segments <= 3 and count_segments(medicine_offer).segments <= 2
    everything_sent = [body for name in PHONES for body in texts_to(services, PHONES[name])]
    assert not [body for body in everything_sent if "门码" in body or "钥匙" in body]  # residents get none

    # Up the ladder: nobody took 赵姐's visit in time, so 李强 (the backup) is offered it, with the notes.
    # Then the grid leader, who is alerted to arrange it, with them too.
    with services.sessions.begin() as session:
        session.execute(update(Grid).values(leader_phone=LEADER_PHONE))
    for hours in (3, 6):
        with services.sessions.begin() as session:
            decided = ladder.escalate_due_tasks(session, clock.now + timedelta(hours=hours), services.intake).outbound
        for outbound_id in decided:
            deliver_sms(services, outbound_id)
    [backup_offer] = about(services, BACKUP_PHONE, zhao)
    assert ZHAO_ACCESS in backup_offer and WU_CODE not in backup_offer
    [leader_alert] = about(services, LEADER_PHONE, zhao)
    assert "无人接单" in leader_alert and ZHAO_ACCESS in leader_alert and WU_CODE not in leader_alert

    # 张敏 takes it: his confirmation repeats the notes; 李强 is told it is taken, without them.
    assert post_signed(client, services, "/twilio/sms", sms_params(f"接{zhao.id}", LIAISON_PHONE)).status_code == 200
    run_worker(services)
    confirmation = texts_to(services, LIAISON_PHONE)[-1]
    assert confirmation.startswith(f"已接单#{zhao.id}") and ZHAO_ACCESS in confirmation
    taken = texts_to(services, BACKUP_PHONE)[-1]
    assert "已由张敏接单" in taken and "门码" not in taken
    # His task list names the tasks only.
    assert post_signed(client, services, "/twilio/sms", sms_params("?", LIAISON_PHONE)).status_code == 200
    run_worker(services)
    assert "门码" not in texts_to(services, LIAISON_PHONE)[-1]

    # The door codes are in no log line, audit entry or task history, and staff views of the SMS hide them.
    codes = (ZHAO_CODE, WU_CODE, WANG_CODE)
    assert not [code for code in codes if code in caplog.text]
    with services.readonly() as session:
        stored = [e.detail for e in session.scalars(select(AuditEntry))]
        stored += [e.detail for e in session.scalars(select(TaskEvent))]
    assert stored and not [text for text in stored if any(code in text for code in codes)]
    make_user(services, "admin", StaffRole.ADMIN)
    as_user(client, "admin")
    for url in (f"/tasks/{zhao.id}", f"/api/v1/tasks/{zhao.id}", "/messages/sent"):
        shown = client.get(url, headers=bearer(issue(services)) if url.startswith(API) else None)
        assert shown.status_code == 200, url
        assert "李四" in shown.text and "****" in shown.text and ZHAO_CODE not in shown.text, url


def test_staff_set_and_read_the_notes_on_the_residents_page_in_their_scope_only(
    client: TestClient, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    people = make_people(services)
    token = as_user(client, "clerk")
    liang = f"/register/residents/{people['梁阿姨']}"
    page = client.get(liang)
    assert page.status_code == 200 and "上门出入信息" in page.text and "显示门码" not in page.text
    form = client.get(f"{liang}/access")
    assert form.status_code == 200 and 'name="door_code"' in form.text and 'maxlength="12"' in form.text
    values = {
        "csrf_token": token,
        "key_holder_name": "李四",
        "key_holder_relation": "邻居",
        "key_holder_phone": "137 0000 0009",
        "door_code": "K4321#",
        "notes": "有狗，先敲门",
    }
    saved = client.post(f"{liang}/access", data=values, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == f"{liang}?saved=1#access"
    again = client.post(f"{liang}/access", data=values, follow_redirects=False)  # a double click
    assert again.status_code == 303
    edits = [e for e in audit_entries(services, "edit") if e.detail.startswith("access")]
    assert len(edits) == 1 and "K4321" not in edits[0].detail and "李四" not in edits[0].detail
    shown = client.get(liang).text
    code = re.search(r'<details class="access-code"><summary>显示门码</summary><span lang="en">([^<]*)</span>', shown)
    assert code is not None and code.group(1) == "K4321#"  # behind "show", for staff in scope
    assert "李四（邻居）" in shown and "137 0000 0009" in shown and "有狗，先敲门" in shown
    exported = client.get("/register/export.csv")  # the register's CSV leaves the notes out
    assert exported.status_code == 200 and "梁阿姨" in exported.text and "K4321" not in exported.text

    # Bad input: said beside the field, nothing written.
    for field, bad, said in (
        ("door_code", "1" * 13, "最多 12 个字"),
        ("door_code", "门1234", "门码只能有数字"),
        ("notes", "狗" * 31, "最多 30 个字"),
        ("key_holder_phone", "12345", "不是有效的电话号码"),
        ("key_holder_name", "李\x07四", "请写成一行"),
    ):
        refused = client.post(f"{liang}/access", data={**values, field: bad})
        assert refused.status_code == 400 and said in refused.text, (field, bad)
    with services.readonly() as session:
        [row] = session.scalars(select(HouseholdAccess))
        assert (row.door_code, row.notes, row.key_holder_phone) == ("K4321#", "有狗，先敲门", "+8613700000009")

    # Emptying a field clears it.
    cleared = client.post(f"{liang}/access", data={**values, "door_code": " "}, follow_redirects=False)
    assert cleared.status_code == 303 and "显示门码" not in client.get(liang).text

    # Another community's resident is not there for this clerk; a clerk of that community cannot read 梁阿姨's.
    zhao = f"/register/residents/{people['赵奶奶']}/access"
    assert client.get(zhao).status_code == 404
    assert client.post(zhao, data=values, follow_redirects=False).status_code == 404
    make_user(services, "clerk_peace", StaffRole.CLERK, community="和平社区")
    as_user(client, "clerk_peace")
    for response in (client.get(f"{liang}/access"), client.get(liang)):
        assert response.status_code == 404 and "李四" not in response.text and "有狗" not in response.text
    with services.readonly() as session:
        assert len(list(session.scalars(select(HouseholdAccess)))) == 1
    assert "K4321" not in caplog.text


def test_the_api_sets_and_reads_the_notes_in_scope_and_refuses_bad_input(
    client: TestClient, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    people = make_people(services)
    clerk = bearer(issue(services, StaffRole.CLERK, community="幸福里社区"))
    url = f"{API}/residents/{people['梁阿姨']}/access"
    empty = client.get(url, headers=clerk)
    assert empty.status_code == 200 and set(empty.json()["access"].values()) == {None}
    body = {"door_code": "K4321#", "notes": "有狗", "key_holder_name": "李四", "key_holder_phone": "13700000009"}
    first = client.put(url, json=body, headers=clerk)
    assert first.status_code == 200, first.text
    assert sorted(first.json()["changed"]) == sorted(body) and first.json()["access"]["door_code"] == "K4321#"
    again = client.put(url, json=body, headers=clerk)
    assert again.status_code == 200 and again.json()["changed"] == []
    partly = client.put(url, json={"notes": None}, headers=clerk)  # null clears one; the rest stay
    assert partly.json()["changed"] == ["notes"] and partly.json()["access"]["door_code"] == "K4321#"
    read = client.get(url, headers=clerk).json()["access"]
    assert read == {
        "key_holder_name": "李四",
        "key_holder_relation": None,
        "key_holder_phone": "+8613700000009",
        "door_code": "K4321#",
        "notes": None,
    }
    for bad in (
        {"door_code": "1" * 13},
        {"notes": "狗" * 31},
        {"key_holder_phone": "12345"},
        {"door_code": 1234},
        {"door_code": "12\n34"},
        {"color": "red"},
        {},
    ):
        refused = client.put(url, json=bad, headers=clerk)
        assert refused.status_code == 422, (bad, refused.text)
        assert "K4321" not in refused.text
    too_long = client.put(url, json={"door_code": "1" * 13}, headers=clerk).json()
    assert too_long["problems"][0]["field"] == "door_code" and "12 characters" in too_long["problems"][0]["message"]
    assert client.get(url, headers=clerk).json()["access"]["door_code"] == "K4321#"  # nothing written

    # Out of scope: another community's clerk, and a resident of another community, are not there.
    peace = bearer(issue(services, StaffRole.CLERK, community="和平社区"))
    assert client.get(url, headers=peace).status_code == 404
    assert client.put(url, json={"door_code": "0000"}, headers=peace).status_code == 404
    outside = client.get(f"{API}/residents/{people['赵奶奶']}/access", headers=clerk)
    assert outside.status_code == 404
    with services.readonly() as session:
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.object_id == people["梁阿姨"])))
    assert {(e.action, e.detail) for e in entries} >= {("view", "access")}
    assert not [e for e in entries if "K4321" in e.detail]
    assert "K4321" not in caplog.text


def test_staff_views_hide_a_door_code_in_either_language() -> None:
    zh = "【社区热线】#7【急】上门看看：赵姐 138 0013 8000；钥匙：李四 137 0000 0009；门码：12 34#；注意：有狗。回复"
    en = '[Hotline] #7 visit: Zhao 138 0013 8000; door code: A-12*; note: dog. Reply "OK 7"'
    assert hide_door_code(zh) == zh.replace("12 34#", "****")
    assert hide_door_code(en) == en.replace("A-12*", "****")
    assert hide_door_code("#8买菜：梁阿姨 3号楼。原话：门码坏了") == "#8买菜：梁阿姨 3号楼。原话：门码坏了"


def test_the_same_notes_saved_twice_at_once_are_written_once(services: Services) -> None:
    people = make_people(services)
    start, results, errors = threading.Barrier(2), [], []

    def save() -> None:
        try:
            start.wait(10)
            results.append(set_notes(services, people["梁阿姨"], door_code="K4321#", notes="有狗"))
        except Exception as exc:  # reported below, with the other thread's result
            errors.append(exc)

    threads = [threading.Thread(target=save) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and sorted(results) == [[], ["door_code", "notes"]], (errors, results)
    assert len([e for e in audit_entries(services, "edit") if e.detail.startswith("access")]) == 1
