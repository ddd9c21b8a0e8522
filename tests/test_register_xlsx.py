"""The register as an Excel workbook (.xlsx): read with the same checks as a CSV, errors by Excel's row numbers,
all or nothing; written with every cell as text, so it imports back unchanged and runs no formula."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import Workbook, load_workbook
from sqlalchemy import select, true
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import Resident
from dispatch.register.xlsx import MAX_UNPACKED, read_sheet
from hotline.cli import main as cli
from hotline.services import Services
from tests.console_register_helpers import ADMIN, as_user, audit_entries, make_people

VOCABULARY = register.Vocabulary.load()
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def office_workbook(*rows: list[object], sheets: int = 1) -> bytes:
    """A workbook as an office saves it: typed cells (numbers as numbers), in its first sheet."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    for n in range(1, sheets):
        book.create_sheet(f"其他{n}").append(["不读这一页"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def names(services: Services) -> set[str]:
    with services.readonly() as session:
        return set(session.scalars(select(Resident.name)))


def test_an_offices_workbook_imports_with_numbers_typed_as_numbers(services: Services) -> None:
    data = office_workbook(
        ["姓名", "电话", "社区", "楼栋", "单元", "房号", "类别"],
        ["孙爷爷", 13900000011, "幸福里社区", "5号楼", "1单元", 101, "独居老人、慢性病"],
        [None, None, None],  # a blank row, as offices leave them
        ["周阿姨", 13900000012.0, "幸福里社区", "5号楼", "1单元", "102", None],
        sheets=2,
    )
    with services.sessions.begin() as session:
        report = register.import_residents(session, data, region="CN", vocabulary=VOCABULARY)
        assert report.ok, report.errors
        assert report.created == [2, 4]  # Excel's row numbers: the blank row 3 is skipped, not renumbered
    with services.readonly() as session:
        by_name = {r.name: r for r in session.scalars(select(Resident))}
        assert [p.phone for p in by_name["周阿姨"].phones] == ["+8613900000012"]
        assert by_name["孙爷爷"].household.room == "101"
        assert by_name["孙爷爷"].categories == ["chronically_ill", "elderly_alone"]


def test_a_bad_row_is_named_by_its_excel_row_and_nothing_is_imported(services: Services) -> None:
    data = office_workbook(
        ["name", "phones", "community"],
        ["孙爷爷", "13900000011", "幸福里社区"],
        ["周阿姨", 12345, "幸福里社区"],
        ["吴叔", "13900000013", "幸福里社区", "多出来的一格"],
    )
    with services.sessions.begin() as session:
        report = register.import_residents(session, data, region="CN", vocabulary=VOCABULARY)
        assert not report.ok
        assert [(e.line, e.column) for e in report.errors] == [(3, "phones"), (4, "(row)")]
        assert "12345" in report.errors[0].message and "has 4 cells but the header has 3" in report.errors[1].message
    assert names(services) == set()


def test_the_export_is_text_cells_and_imports_back_unchanged(services: Services) -> None:
    first = (
        "姓名,电话,社区,楼栋,单元,房号,备注\n"
        '孙爷爷,13900000011,幸福里社区,5号楼,1单元,0101,=HYPERLINK("http://x")\n'
        "+周阿姨,0371-66881234,幸福里社区,5号楼,1单元,102,\n"
    )
    with services.sessions.begin() as session:
        assert register.import_residents(session, first.encode(), region="CN", vocabulary=VOCABULARY).ok
    with services.readonly() as session:
        data = register.export_residents(session, VOCABULARY, fmt="xlsx")
        english = register.export_residents(session, VOCABULARY, 1, fmt="xlsx")
    book = load_workbook(io.BytesIO(data))
    sheet = book.worksheets[0]
    assert sheet.title == "居民名册" and load_workbook(io.BytesIO(english)).worksheets[0].title == "Residents"
    cells = {cell.value: cell.data_type for row in sheet.iter_rows() for cell in row if cell.value}
    assert set(cells.values()) == {"s"}  # every cell text: no number, no formula
    assert '=HYPERLINK("http://x")' in cells and "0101" in cells and "+周阿姨" in cells and "037166881234" in cells
    with services.sessions.begin() as session:
        again = register.import_residents(session, data, region="CN", vocabulary=VOCABULARY)
        assert again.ok and again.unchanged == [2, 3] and not again.created and not again.updated
    with services.readonly() as session:
        notes = {r.name: r.notes for r in session.scalars(select(Resident))}
        assert notes["孙爷爷"] == '=HYPERLINK("http://x")'


def test_liaisons_export_as_a_workbook_too(services: Services) -> None:
    with services.sessions.begin() as session:
        text = "姓名,电话,社区,网格\n张敏,13912345678,幸福里社区,第1网格\n"
        assert register.import_liaisons(session, text.encode(), region="CN", vocabulary=VOCABULARY).ok
        data = register.export_liaisons(session, VOCABULARY, fmt="xlsx")
        again = register.import_liaisons(session, data, region="CN", vocabulary=VOCABULARY)
        assert again.ok and again.unchanged == [2], again.errors
    assert [cells for _, cells in read_sheet(data)][1][1:3] == ["张敏", "13912345678"]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"PK\x03\x04 not really a zip", "not a whole zip file"),
        ("zip of other things", "is not a workbook Excel saved"),
        (office_workbook(), "is empty"),
    ],
)
def test_a_file_that_is_no_workbook_is_one_clear_error(services: Services, data: bytes | str, says: str) -> None:
    if isinstance(data, str):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("readme.txt", "hello")
        data = buffer.getvalue()
    with services.sessions.begin() as session:
        report = register.import_residents(session, data, region="CN", vocabulary=VOCABULARY)
    assert not report.ok and len(report.errors) == 1
    assert report.errors[0].column == "(file)" and says in report.errors[0].message


def test_a_workbook_that_would_unpack_to_gigabytes_is_refused_before_unpacking(services: Services) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (MAX_UNPACKED + 1))  # packs to about 200 KB
    assert len(buffer.getvalue()) < 1024 * 1024
    with services.sessions.begin() as session:
        report = register.import_residents(session, buffer.getvalue(), region="CN", vocabulary=VOCABULARY)
    assert not report.ok and "far more than a register" in report.errors[0].message


def test_the_console_exports_and_imports_a_workbook_within_its_scope(client: TestClient, services: Services) -> None:
    make_people(services)
    token = as_user(client, "clerk")
    export = client.get("/register/export.xlsx")
    assert export.status_code == 200 and export.headers["content-type"] == XLSX
    assert re.match(r'attachment; filename="register-\d{8}\.xlsx"', export.headers["content-disposition"])
    rows = [cells for _, cells in read_sheet(export.content)]
    assert rows[0][:3] == ["编号", "姓名", "电话"]
    assert {row[1] for row in rows[1:]} == {"梁阿姨", "王大爷"}  # not 赵奶奶, of another community
    assert [e.detail for e in audit_entries(services, "export")] == ["2 residents"]
    back = client.post(
        "/register/import", data={"csrf_token": token}, files={"file": ("名册.xlsx", export.content, XLSX)}
    )
    assert back.status_code == 200 and "新增 0 人，更新 0 人，未变 2 人" in back.text
    bad = office_workbook(["姓名", "电话"], ["孙爷爷", 12345])
    refused = client.post("/register/import", data={"csrf_token": token}, files={"file": ("a.xlsx", bad, XLSX)})
    assert refused.status_code == 422 and "<td>2</td><td>电话</td>" in refused.text
    assert "孙爷爷" not in names(services)


def test_the_command_line_writes_a_workbook_by_its_name_and_reads_it_back(
    services: Services, environ: dict[str, str], tmp_path: Path
) -> None:
    make_people(services)
    runner, path = CliRunner(env=environ), str(tmp_path / "名册.xlsx")
    written = runner.invoke(cli, ["export", "residents", path], catch_exceptions=False)
    assert written.exit_code == 0, written.output
    data = (tmp_path / "名册.xlsx").read_bytes()
    assert {cells[1] for _, cells in list(read_sheet(data))[1:]} == {"梁阿姨", "王大爷", "赵奶奶"}
    read = runner.invoke(cli, ["import", "residents", path], catch_exceptions=False)
    assert read.exit_code == 0 and "0 new, 0 updated, 3 unchanged" in read.output, read.output


def damaged(data: bytes, member: str, change: Callable[[bytes], bytes]) -> bytes:
    """The workbook with one member of its zip changed."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            target.writestr(item, change(content) if item.filename == member else content)
    return out.getvalue()


def test_a_damaged_workbook_is_a_clear_error_on_the_page_not_a_500(client: TestClient, services: Services) -> None:
    make_people(services)
    token = as_user(client, "clerk")
    good = office_workbook(["姓名", "电话"], ["孙爷爷", "13900000011"], ["周阿姨", "13900000012"])
    truncated = damaged(good, "xl/worksheets/sheet1.xml", lambda xml: xml[: len(xml) // 2])
    answer = client.post("/register/import", data={"csrf_token": token}, files={"file": ("a.xlsx", truncated, XLSX)})
    assert answer.status_code == 422 and "its sheet cannot be read" in answer.text
    assert "孙爷爷" not in names(services)


def test_rows_past_a_stale_dimension_are_read(services: Services) -> None:
    data = office_workbook(
        ["姓名", "电话"], ["孙爷爷", "13900000011"], ["周阿姨", "13900000012"], ["吴叔", "13900000013"]
    )
    stale = damaged(
        data, "xl/worksheets/sheet1.xml", lambda xml: re.sub(rb'<dimension ref="[^"]+"', b'<dimension ref="A1:B2"', xml)
    )
    assert b'ref="A1:B2"' in zipfile.ZipFile(io.BytesIO(stale)).read("xl/worksheets/sheet1.xml")
    assert [cells[0] for _, cells in read_sheet(stale)] == ["姓名", "孙爷爷", "周阿姨", "吴叔"]


def test_a_control_character_is_refused_on_edit_and_never_breaks_the_export(services: Services) -> None:
    people = make_people(services)
    with services.sessions.begin() as session:
        with pytest.raises(register.EditRefused) as refused:
            register.update_resident(
                session, people["梁阿姨"], {"notes": "楼下\x0b左手边"}, actor=ADMIN, where=true(), region="CN"
            )
        assert [p.field for p in refused.value.problems] == ["notes"]
        session.get(Resident, people["梁阿姨"]).notes = "楼下\x0b左手边"  # as a register edited before the check
    with services.readonly() as session:
        data = register.export_residents(session, VOCABULARY, fmt="xlsx")
    notes = {cells[1]: cells[-1] for _, cells in list(read_sheet(data))[1:]}
    assert notes["梁阿姨"] == "楼下左手边"
