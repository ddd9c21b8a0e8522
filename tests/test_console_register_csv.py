"""The register in the console: import and export of spreadsheet files, whole or refused, within the staff member's
scope and recorded in the audit log."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.models import Resident
from hotline.console.register import UPLOAD_LIMIT, UPLOAD_SLACK
from hotline.services import Services
from tests.console_register_helpers import as_user, audit_entries, make_people


@pytest.fixture
def people(services: Services) -> dict[str, int]:
    return make_people(services)


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
    bad = client.post(
        "/register/import",
        data={"csrf_token": token},
        files={"file": ("名册.csv", BAD_CSV.encode("gb18030"), "text/csv")},
    )
    assert bad.status_code == 422 and "发现 2 处问题，什么都没有导入" in bad.text
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td><td>([^<]+)</td></tr>", bad.text)
    assert [(line, column) for line, column, _ in rows] == [("3", "电话"), ("4", "社区")]
    assert "和平社区" in rows[1][2]
    assert resident_names(services) == before and audit_entries(services, "import") == []

    good = client.post(
        "/register/import",
        data={"csrf_token": token},
        files={"file": ("名册.csv", GOOD_CSV.encode("utf-8"), "text/csv")},
    )
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
    chunked = client.post(
        "/register/import",
        content=iter([body[i : i + 65536] for i in range(0, len(body), 65536)]),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
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
    back = client.post(
        "/register/import", data={"csrf_token": token}, files={"file": ("register.csv", export.content, "text/csv")}
    )
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
        response = client.post(
            "/register/import", data={"csrf_token": token}, files={"file": ("a.csv", csv.encode(), "text/csv")}
        )
        assert response.status_code == 422 and f"<td>2</td><td>{column}</td>" in response.text
        assert "138****8002" not in response.text
    with services.readonly() as session:
        assert session.get(Resident, people["赵奶奶"]).notes == ""  # type: ignore[union-attr]
