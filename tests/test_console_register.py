"""The register in the console: search, one resident and their last 14 days, edits, import and export, each
within the staff member's scope and recorded in the audit log."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import (
    AuditEntry,
    Call,
    Checkin,
    CheckinPlan,
    CheckinStatus,
    Household,
    InboundMessage,
    Liaison,
    OutboundMessage,
    Resident,
    StaffRole,
    Task,
    TaskCategory,
    TaskStatus,
    TemperatureReading,
)
from dispatch.register.search import search_residents
from dispatch.staff_accounts import household_scope
from hotline.console.register import UPLOAD_LIMIT, UPLOAD_SLACK
from hotline.services import Services
from tests.conftest import Clock
from tests.console_helpers import make_user, sign_in

HOME = register.Address("幸福里社区", "3号楼", "2单元", "402")


@dataclass
class Principal:
    """Whoever acts, as the domain sees them (a staff account or an API token)."""

    role: str
    community_id: int | None = None
    grid_id: int | None = None
    audit_ref: str = "staff:99"
    audit_name: str = "tester"


ADMIN = Principal("admin")


@pytest.fixture
def people(services: Services) -> dict[str, int]:
    """Two grids of 幸福里社区 and a second community: 梁阿姨 (grid 1, 张敏 with 李强 as backup), 王大爷 (grid 2,
    王五), 赵奶奶 (和平社区). Staff: an admin, a clerk of 幸福里社区, the leader of its grid 1."""
    with services.sessions.begin() as session:
        community = register.find_or_create_community(session, "幸福里社区")
        grid1 = register.find_or_create_grid(session, community, "第1网格")
        grid2 = register.find_or_create_grid(session, community, "第2网格")
        zhang = register.add_liaison(session, name="张敏", phone="13912345678", region="CN", grid=grid1)
        li = register.add_liaison(session, name="李强", phone="13912345679", region="CN", grid=grid1)
        wang = register.add_liaison(session, name="王五", phone="13912345680", region="CN", grid=grid2)
        liang = register.add_resident(session, name="梁阿姨", phones=["13800138000"], liaison_phone="13912345678",
                                      backup_liaison_phone="13912345679", address=HOME, region="CN")  # fmt: skip
        liang.household.grid = grid1
        away = register.Address("幸福里社区", "9号楼", "1单元", "101")
        daye = register.add_resident(session, name="王大爷", phones=["13800138001"], liaison_phone="13912345680",
                                     address=away, region="CN")  # fmt: skip
        daye.household.grid = grid2
        elsewhere = register.Address("和平社区", "1号楼", "1单元", "101")
        zhao = register.add_resident(session, name="赵奶奶", phones=["13800138002"], address=elsewhere, region="CN")
        ids = {
            "梁阿姨": liang.id,
            "王大爷": daye.id,
            "赵奶奶": zhao.id,
            "张敏": zhang.id,
            "李强": li.id,
            "王五": wang.id,
        }
    make_user(services, "admin", StaffRole.ADMIN)
    make_user(services, "clerk", StaffRole.CLERK, community="幸福里社区")
    make_user(services, "leader1", StaffRole.GRID_LEADER, grid="第1网格")
    return ids


def found(page: str) -> set[int]:
    return {int(x) for x in re.findall(r'data-resident="(\d+)"', page)}


def as_user(client: TestClient, username: str) -> str:
    client.cookies.clear()
    return sign_in(client, username)


def audit_entries(services: Services, action: str | None = None) -> list[AuditEntry]:
    with services.readonly() as session:
        query = select(AuditEntry).order_by(AuditEntry.id)
        if action:
            query = query.where(AuditEntry.action == action)
        return list(session.scalars(query))


def test_search_by_name_phone_in_any_format_and_address(client: TestClient, people: dict[str, int]) -> None:
    as_user(client, "admin")
    liang = people["梁阿姨"]
    assert found(client.get("/register", params={"q": "梁"}).text) == {liang}
    for phone in ("138 0013 8000", "+86 138-0013-8000", "13800138000", "8000"):
        assert found(client.get("/register", params={"q": phone}).text) == {liang}, phone
    assert found(client.get("/register", params={"q": "3号楼 402"}).text) == {liang}
    assert found(client.get("/register", params={"q": "3-2-402"}).text) == {liang}
    assert found(client.get("/register", params={"q": "9号楼"}).text) == {people["王大爷"]}
    everyone = client.get("/register")
    assert found(everyone.text) == {people[n] for n in ("梁阿姨", "王大爷", "赵奶奶")}
    assert "138****8000" in everyone.text and "13800138000" not in everyone.text  # the list masks numbers
    assert "没有找到" in client.get("/register", params={"q": "不存在的人"}).text


def test_search_stays_within_scope_and_pages(client: TestClient, services: Services, people: dict[str, int]) -> None:
    as_user(client, "clerk")
    assert found(client.get("/register").text) == {people["梁阿姨"], people["王大爷"]}
    assert found(client.get("/register", params={"q": "13800138002"}).text) == set()  # 赵奶奶, another community
    as_user(client, "leader1")
    assert found(client.get("/register").text) == {people["梁阿姨"]}
    assert found(client.get("/register", params={"q": "8001"}).text) == set()  # 王大爷, grid 2
    with services.readonly() as session:
        first = search_residents(session, household_scope(ADMIN), "", region="CN", limit=2)
        rest = search_residents(session, household_scope(ADMIN), "", region="CN", limit=2, offset=2)
    assert len(first) == 2 and len(rest) == 1
    assert {r.name for r in first + rest} == {"梁阿姨", "王大爷", "赵奶奶"}


def test_one_resident_shows_everything_and_records_the_view(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    as_user(client, "leader1")
    page = client.get(f"/register/residents/{people['梁阿姨']}")
    assert page.status_code == 200
    text = page.text
    assert "138 0013 8000" in text and 'href="tel:+8613800138000"' in text  # staff see the number in full
    assert "张敏" in text and "李强" in text and "幸福里社区 3号楼 2单元 402" in text and "第1网格" in text
    assert 'action="/calls"' in text and f'name="resident_id" value="{people["梁阿姨"]}"' in text
    views = audit_entries(services, "view")
    assert [(e.object_kind, e.object_id, e.actor_name) for e in views] == [("resident", people["梁阿姨"], "leader1")]


def test_another_grids_resident_is_404_exactly_like_a_missing_one(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    token = as_user(client, "leader1")
    other, missing = people["王大爷"], 999_999
    for path in ("/register/residents/{}", "/register/residents/{}/edit"):
        refused, absent = client.get(path.format(other)), client.get(path.format(missing))
        assert refused.status_code == absent.status_code == 404
        same_path = refused.text.replace(path.format(other), path.format(missing))  # the page names its own path
        assert same_path == absent.text and "王大爷" not in refused.text
    posted = client.post(f"/register/residents/{other}/edit", data={**edit_form(), "name": "改名", "csrf_token": token})
    assert posted.status_code == 404
    as_user(client, "clerk")
    assert client.get(f"/register/residents/{people['赵奶奶']}").status_code == 404
    with services.readonly() as session:
        assert session.get(Resident, other).name == "王大爷"  # type: ignore[union-attr]
    assert audit_entries(services) == []  # nothing seen, nothing changed


def edit_form(**changes: str | list[str]) -> dict[str, str | list[str]]:
    """梁阿姨's edit form as the page fills it in, with `changes`."""
    form: dict[str, str | list[str]] = {
        "name": "梁阿姨", "phones": "138 0013 8000", "language": "zh-CN", "channel": "sms", "categories": [],
        "risk": "none", "emergency_contact_name": "", "emergency_contact_phone": "", "notes": "", "status": "active",
        "plan_mode": "default", "plan_times": "", "plan_channel": "", "plan_ends_on": "",
    }  # fmt: skip
    form.update(changes)
    return form


def liaisons_of(people: dict[str, int], primary: str = "张敏", backup: str = "李强") -> dict[str, str]:
    return {"primary_liaison": str(people[primary]) if primary else "", "backup_liaison": str(people[backup])}


def test_an_edit_changes_the_fields_and_audits_their_names_only(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    token = as_user(client, "clerk")
    liang = people["梁阿姨"]
    form = client.get(f"/register/residents/{liang}/edit")
    assert form.status_code == 200 and 'value="138 0013 8000"' in form.text
    response = client.post(
        f"/register/residents/{liang}/edit",
        data={**edit_form(phones="13800138000; 0371-6688 1234", categories=["elderly_alone", "chronically_ill"],
                          risk="red", notes="高血压，每天吃药", emergency_contact_phone="+1 650 253 0000"),
              **liaisons_of(people), "csrf_token": token},
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303 and response.headers["location"] == f"/register/residents/{liang}?saved=1"
    with services.readonly() as session:
        resident = session.get(Resident, liang)
        assert resident is not None
        assert [(p.phone, p.landline) for p in resident.phones] == [("+8613800138000", False), ("+8637166881234", True)]
        assert resident.categories == ["chronically_ill", "elderly_alone"] and resident.risk == "red"
        assert resident.notes == "高血压，每天吃药" and resident.emergency_contact_phone == "+16502530000"
    edits = audit_entries(services, "edit")
    assert [(e.object_kind, e.object_id, e.actor_name) for e in edits] == [("resident", liang, "clerk")]
    assert edits[0].detail == "phones, categories, risk, emergency_contact_phone, notes"
    assert "高血压" not in edits[0].detail and not re.search(r"\d", edits[0].detail)
    # The same form again changes nothing and records nothing.
    again = client.post(f"/register/residents/{liang}/edit", follow_redirects=False, data={
        **edit_form(phones="13800138000; 0371-6688 1234", categories=["elderly_alone", "chronically_ill"],
                    risk="red", notes="高血压，每天吃药", emergency_contact_phone="+1 650 253 0000"),
        **liaisons_of(people), "csrf_token": token})  # fmt: skip
    assert again.status_code == 303 and len(audit_entries(services, "edit")) == 1
    assert "已保存" in client.get(again.headers["location"]).text


def test_a_bad_phone_changes_nothing_and_is_shown_beside_the_field(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    token = as_user(client, "admin")
    liang = people["梁阿姨"]
    response = client.post(f"/register/residents/{liang}/edit", data={
        **edit_form(name="梁秀英", phones="12345", risk="red", plan_mode="own", plan_times="09:00"),
        **liaisons_of(people, "李强", "张敏"), "csrf_token": token})  # fmt: skip
    assert response.status_code == 400
    assert re.search(r'id="f-phones"[^>]*>.*?<span class="error" id="err-phones">有号码无法识别', response.text, re.S)
    assert 'value="梁秀英"' in response.text and 'value="12345"' in response.text  # what was typed stays
    with services.readonly() as session:
        resident = session.get(Resident, liang)
        assert resident is not None and resident.name == "梁阿姨" and resident.risk == "none"
        assert [p.phone for p in resident.phones] == ["+8613800138000"]
        household = resident.household
        assert (household.primary_liaison_id, household.backup_liaison_id) == (people["张敏"], people["李强"])
        assert session.scalar(select(func.count()).select_from(CheckinPlan)) == 0
    assert audit_entries(services, "edit") == []


def test_liaisons_and_plan_are_changed_from_the_form(
    client: TestClient, services: Services, people: dict[str, int], clock: Clock
) -> None:
    token = as_user(client, "leader1")
    liang = people["梁阿姨"]
    form = client.get(f"/register/residents/{liang}/edit").text
    assert "李强" in form and "王五" not in form  # only liaisons the grid leader may assign
    swapped = client.post(f"/register/residents/{liang}/edit", follow_redirects=False, data={
        **edit_form(plan_mode="own", plan_times="9:00, 15:30", plan_channel="voice"),
        **liaisons_of(people, "李强", "张敏"), "csrf_token": token})  # fmt: skip
    assert swapped.status_code == 303
    with services.readonly() as session:
        household = session.scalars(select(Household).join(Resident).where(Resident.id == liang)).one()
        assert (household.primary_liaison_id, household.backup_liaison_id) == (people["李强"], people["张敏"])
        plan = session.scalars(select(CheckinPlan)).one()
        assert plan.times == ["09:00", "15:30"] and plan.channel == "voice"
    assert sorted(e.detail for e in audit_entries(services, "edit")) == ["plan", "primary_liaison, backup_liaison"]
    # Another grid's liaison, a time in quiet hours, the same person twice: refused, field by field.
    refused = client.post(f"/register/residents/{liang}/edit", data={
        **edit_form(plan_mode="own", plan_times="23:30"), **liaisons_of(people, "王五", "王五"),
        "csrf_token": token})  # fmt: skip
    assert refused.status_code == 400
    for field, words in (("primary_liaison", "不在您的范围内"), ("plan_times", "免打扰"), ("backup_liaison", "")):
        assert f'id="err-{field}">' in refused.text and words in refused.text
    with services.readonly() as session:
        assert session.scalars(select(CheckinPlan)).one().times == ["09:00", "15:30"]
        household = session.scalars(select(Household).join(Resident).where(Resident.id == liang)).one()
        assert household.primary_liaison_id == people["李强"]
    with services.sessions.begin() as session:  # a liaison stopped meanwhile may stay while the rest is saved
        session.get(Liaison, people["张敏"]).active = False  # type: ignore[union-attr]
    back = client.post(f"/register/residents/{liang}/edit", follow_redirects=False, data={
        **edit_form(), **liaisons_of(people, "李强", "张敏"), "csrf_token": token})  # fmt: skip
    assert back.status_code == 303
    with services.readonly() as session:
        assert session.scalar(select(func.count()).select_from(CheckinPlan)) == 0  # back on the default
    moved = client.post(f"/register/residents/{liang}/edit", data={
        **edit_form(), **liaisons_of(people, "张敏", "李强"), "csrf_token": token})  # fmt: skip
    assert moved.status_code == 400 and 'id="err-primary_liaison">' in moved.text  # but not be made primary


BAD_CSV = """姓名,电话,社区,楼栋,单元,房号
孙爷爷,13900000011,幸福里社区,5号楼,1单元,101
周阿姨,12345,幸福里社区,5号楼,1单元,102
吴叔,13900000013,和平社区,5号楼,1单元,103
"""
GOOD_CSV = BAD_CSV.replace("12345", "13900000012").replace("和平社区", "")


def resident_names(services: Services) -> set[str]:
    with services.readonly() as session:
        return set(session.scalars(select(Resident.name)))


def test_an_import_with_bad_rows_names_each_and_writes_nothing_then_a_good_file_imports(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    token = as_user(client, "clerk")
    before = resident_names(services)
    assert "导入" in client.get("/register/import").text
    bad = client.post("/register/import", data={"csrf_token": token},
                      files={"file": ("名册.csv", BAD_CSV.encode("gb18030"), "text/csv")})  # fmt: skip
    assert bad.status_code == 422 and "发现 2 处问题，什么都没有导入" in bad.text
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td><td>([^<]+)</td></tr>", bad.text)
    assert [(line, column) for line, column, _ in rows] == [("3", "电话"), ("4", "社区")]
    assert "和平社区" in rows[1][2]
    assert resident_names(services) == before and audit_entries(services, "import") == []

    good = client.post("/register/import", data={"csrf_token": token},
                       files={"file": ("名册.csv", GOOD_CSV.encode("utf-8"), "text/csv")})  # fmt: skip
    assert good.status_code == 200 and "新增 3 人" in good.text
    with services.readonly() as session:
        new = session.scalars(select(Resident).where(Resident.name.in_(["孙爷爷", "周阿姨", "吴叔"]))).all()
        assert len(new) == 3 and {r.household.community.name for r in new} == {"幸福里社区"}  # type: ignore[union-attr]
    imports = audit_entries(services, "import")
    assert [(e.object_kind, e.detail) for e in imports] == [("register", "created 3, updated 0, unchanged 0")]


def test_import_is_refused_to_grid_leaders_and_files_over_the_limit(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    token = as_user(client, "leader1")
    assert client.get("/register/import").status_code == 403
    csv = GOOD_CSV.encode()
    refused = client.post("/register/import", data={"csrf_token": token}, files={"file": ("a.csv", csv, "text/csv")})
    assert refused.status_code == 403
    token = as_user(client, "admin")
    big = csv + b"x" * (UPLOAD_LIMIT + 1)
    too_large = client.post("/register/import", data={"csrf_token": token}, files={"file": ("a.csv", big, "text/csv")})
    assert too_large.status_code == 413 and "文件太大：最大 5 MB" in too_large.text
    huge = csv + b"x" * (UPLOAD_LIMIT + UPLOAD_SLACK)  # refused by its Content-Length, before it is read
    refused = client.post("/register/import", data={"csrf_token": token}, files={"file": ("a.csv", huge, "text/csv")})
    assert refused.status_code == 413 and "文件太大" in refused.text
    boundary = "reg-boundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n--{boundary}\r\n'
        f'Content-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
    ).encode() + huge
    chunked = client.post("/register/import", content=iter([body[i:i + 65536] for i in range(0, len(body), 65536)]),
                          headers={"content-type": f"multipart/form-data; boundary={boundary}"})  # fmt: skip
    assert chunked.status_code == 413 and "文件太大" in chunked.text  # no Content-Length: counted as it streams
    empty = client.post("/register/import", data={"csrf_token": token}, files={"file": ("a.csv", b"", "text/csv")})
    assert empty.status_code == 400 and "请先选择" in empty.text
    assert resident_names(services) == {"梁阿姨", "王大爷", "赵奶奶"}


def test_the_export_is_the_scope_and_imports_back_unchanged(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    token = as_user(client, "clerk")
    export = client.get("/register/export.csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert export.headers["content-disposition"].startswith('attachment; filename="register-')
    text = export.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("编号,姓名,电话") and "梁阿姨" in text and "王大爷" in text
    assert "赵奶奶" not in text  # another community
    back = client.post("/register/import", data={"csrf_token": token},
                       files={"file": ("register.csv", export.content, "text/csv")})  # fmt: skip
    assert back.status_code == 200 and "新增 0 人，更新 0 人，未变 2 人" in back.text
    assert [e.detail for e in audit_entries(services, "export")] == ["2 residents"]
    english = client.get("/register/export.csv", params={"headers": "en"}).content.decode("utf-8-sig")
    assert english.splitlines()[0].startswith("id,name,phones")


def test_a_clerk_cannot_import_over_another_communitys_resident(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    token = as_user(client, "clerk")
    by_id = f"编号,姓名,电话\n{people['赵奶奶']},赵奶奶,13800138002\n"
    by_name = "姓名,电话,备注\n赵奶奶,13800138002,改了\n"
    for csv, column in ((by_id, "编号"), (by_name, "姓名")):
        response = client.post("/register/import", data={"csrf_token": token},
                               files={"file": ("a.csv", csv.encode(), "text/csv")})  # fmt: skip
        assert response.status_code == 422 and f"<td>2</td><td>{column}</td>" in response.text
        assert "138****8002" not in response.text
    with services.readonly() as session:
        assert session.get(Resident, people["赵奶奶"]).notes == ""  # type: ignore[union-attr]


def test_the_last_14_days_show_what_happened_then_and_not_before(
    client: TestClient, services: Services, people: dict[str, int], clock: Clock
) -> None:
    liang, now = people["梁阿姨"], clock.now
    with services.sessions.begin() as session:
        household_id = session.get(Resident, liang).household_id  # type: ignore[union-attr]
        for label, age, celsius, category in (("new", timedelta(days=2), 38.6, TaskCategory.MEDICINE),
                                              ("old", timedelta(days=20), 36.4, TaskCategory.GROCERIES)):  # fmt: skip
            at = now - age
            checkin = Checkin(resident_id=liang, household_id=household_id, local_date=at.date(), slot="09:00",
                              channel="voice", due_at=at, status=CheckinStatus.FINE, answered_at=at)  # fmt: skip
            message = InboundMessage(provider_sid=f"SM{label}", from_phone="+8613800138000", to_phone="+8657112345678",
                                     body="36", received_at=at, resident_id=liang)  # fmt: skip
            session.add_all([checkin, message])
            session.flush()
            session.add_all([
                TemperatureReading(resident_id=liang, household_id=household_id, message_id=message.id,
                                   celsius=celsius, at=at),
                Task(household_id=household_id, resident_id=liang, category=category, status=TaskStatus.DONE,
                     created_at=at),
                Call(call_sid=f"CA{label}", from_phone="+8613800138000", to_phone="+8657112345678",
                     caller_kind="resident", resident_id=liang, household_id=household_id, started_at=at,
                     status="completed", duration_seconds=42 if label == "new" else 7),
                OutboundMessage(dedupe_key=f"checkin:{checkin.id}:call:0", to_phone="+8613800138000", body="",
                                kind="checkin", checkin_id=checkin.id, status="sent", call_result="busy",
                                created_at=at, sent_at=at),
            ])  # fmt: skip
        task_ids = {category: id_ for category, id_ in session.execute(select(Task.category, Task.id))}
    with services.readonly() as session:
        history = register.resident_history(session, liang, household_scope(ADMIN), now)
    assert [c.due_at for c in history.checkins] == [now - timedelta(days=2)]
    assert [r.celsius for r in history.readings] == [38.6]
    assert [t.id for t in history.tasks] == [task_ids[TaskCategory.MEDICINE]]
    assert sorted((c.kind, c.outcome) for c in history.calls) == [("checkin", "busy"), ("hotline", "completed")]

    as_user(client, "leader1")
    page = client.get(f"/register/residents/{liang}").text
    assert "38.6°C" in page and "36.4°C" not in page
    assert f'href="/tasks/{task_ids[TaskCategory.MEDICINE]}"' in page
    assert f'href="/tasks/{task_ids[TaskCategory.GROCERIES]}"' not in page
    assert "42秒" in page and "7秒" not in page and "占线" in page and "问候电话" in page
    day = (now - timedelta(days=2)).astimezone(services.settings.timezone).strftime("%m-%d")
    old_day = (now - timedelta(days=20)).astimezone(services.settings.timezone).strftime("%m-%d")
    assert day in page and old_day not in page


def test_a_grid_leader_cannot_assign_a_liaison_of_another_grid_by_id(
    services: Services, people: dict[str, int]
) -> None:
    with services.readonly() as session:
        grid1 = session.scalar(select(Liaison.grid_id).where(Liaison.id == people["张敏"]))
    leader = Principal("grid_leader", grid_id=grid1)
    with services.sessions() as session:
        with pytest.raises(register.EditRefused) as refused:
            register.set_liaisons(session, people["梁阿姨"], primary_id=people["王五"], backup_id=None, actor=leader,
                                  where=household_scope(leader))  # fmt: skip
        assert [(p.field, p.code) for p in refused.value.problems] == [("primary_liaison", "not_assignable")]
        assert {x.name for x in register.assignable_liaisons(session, household_scope(leader))} == {"张敏", "李强"}
        everyone = {x.name for x in register.assignable_liaisons(session, household_scope(ADMIN))}
        assert everyone == {"张敏", "李强", "王五"}
