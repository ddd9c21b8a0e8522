"""The register as CSV: encodings, Chinese and English headers, all-or-nothing imports, round trips."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch import register
from dispatch.models import Channel, Household, Liaison, Resident, RiskColour
from hotline.cli import main
from hotline.services import Services

EXAMPLES = Path(__file__).parent.parent / "examples"
VOCABULARY = register.Vocabulary.load()


def load_examples(session: Session) -> None:
    liaisons = register.import_liaisons(
        session, (EXAMPLES / "liaisons.csv").read_bytes(), region="CN", vocabulary=VOCABULARY
    )
    assert liaisons.ok, liaisons.errors
    residents = register.import_residents(
        session, (EXAMPLES / "residents.csv").read_bytes(), region="CN", vocabulary=VOCABULARY
    )
    assert residents.ok, residents.errors


def resident_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Resident)) or 0)


def test_the_example_files_import(services: Services) -> None:
    with services.sessions.begin() as session:
        load_examples(session)
        residents = {r.name: r for r in register.list_residents(session)}
    assert len(residents) == 4
    liang = residents["梁秀英"]
    assert liang.categories == ["chronically_ill", "elderly_alone"] and liang.risk == RiskColour.YELLOW
    assert liang.household.primary_liaison.name == "张敏" and liang.household.backup_liaison.name == "李强"  # type: ignore[union-attr]
    assert liang.emergency_contact_phone == "+8613600136000" and "高血压" in liang.notes
    assert residents["王德福"].channel == Channel.VOICE and residents["王德福"].phones[0].landline
    assert [p.phone for p in residents["陈玉兰"].phones] == ["+8613800138001", "+8613800138002"]
    assert residents["陈玉兰"].household_id == residents["刘国强"].household_id  # same address, one household


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_encodings_excel_writes_are_read(services: Services, encoding: str) -> None:
    text = (EXAMPLES / "residents.csv").read_text(encoding="utf-8")
    with services.sessions.begin() as session:
        register.import_liaisons(session, (EXAMPLES / "liaisons.csv").read_bytes(), region="CN", vocabulary=VOCABULARY)
        report = register.import_residents(session, text.encode(encoding), region="CN", vocabulary=VOCABULARY)
        assert report.ok, report.errors
        assert sorted(r.name for r in register.list_residents(session)) == sorted(
            ["梁秀英", "王德福", "陈玉兰", "刘国强"]
        )


def test_english_headers_and_values_are_read(services: Services) -> None:
    data = (
        b"name,phones,community,building,unit,room,categories,channel,risk,liaison_phone\n"
        b"Liang Xiuying,13800138000,Xingfuli,3,2,402,elderly_alone;chronically_ill,sms,red,13912345678\n"
    )
    with services.sessions.begin() as session:
        register.add_liaison(session, name="Zhang Min", phone="13912345678", region="CN")
        report = register.import_residents(session, data, region="CN", vocabulary=VOCABULARY)
        assert report.ok and report.created == [2]
        [resident] = register.list_residents(session)
        assert resident.risk == RiskColour.RED and resident.categories == ["chronically_ill", "elderly_alone"]


def test_importing_again_changes_nothing(services: Services) -> None:
    with services.sessions.begin() as session:
        load_examples(session)
        again = register.import_residents(
            session, (EXAMPLES / "residents.csv").read_bytes(), region="CN", vocabulary=VOCABULARY
        )
        assert again.ok and again.created == [] and again.updated == [] and len(again.unchanged) == 4
        assert resident_count(session) == 4


@pytest.mark.parametrize("language", [0, 1])
def test_export_then_import_is_a_no_op(services: Services, language: int) -> None:
    with services.sessions.begin() as session:
        load_examples(session)
        residents_file = register.export_residents(session, VOCABULARY, language)
        liaisons_file = register.export_liaisons(session, VOCABULARY, language)
    assert residents_file.startswith(codecs.BOM_UTF8)  # Excel opens it as UTF-8
    with services.sessions.begin() as session:
        for importer, data in ((register.import_liaisons, liaisons_file), (register.import_residents, residents_file)):
            report = importer(session, data, region="CN", vocabulary=VOCABULARY)
            assert report.ok and report.created == [] and report.updated == [], report
        assert register.export_residents(session, VOCABULARY, language) == residents_file


def test_an_edited_row_updates_that_resident_only(services: Services) -> None:
    with services.sessions.begin() as session:
        load_examples(session)
        exported = register.export_residents(session, VOCABULARY).decode("utf-8-sig")
    edited = exported.replace(",黄,", ",红,", 1).encode("utf-8")
    with services.sessions.begin() as session:
        report = register.import_residents(session, edited, region="CN", vocabulary=VOCABULARY)
        assert report.ok and len(report.updated) == 1 and len(report.unchanged) == 3
        liang = next(r for r in register.list_residents(session) if r.name == "梁秀英")
        assert liang.risk == RiskColour.RED


def five_hundred_rows(bad: dict[int, str]) -> bytes:
    """500 residents; row i (0-based) replaced by bad[i] where given."""
    lines = ["姓名,电话,社区,楼栋,单元,房号,类别,联络员电话"]
    for i in range(500):
        building, room = divmod(i, 50)
        lines.append(
            bad.get(i, f"居民{i},1380013{i:04d},幸福里社区,{building + 1}号楼,1单元,{room + 101},独居老人,13912345678")
        )
    return "\n".join(lines).encode("gb18030")


def test_three_bad_rows_among_500_import_nothing_and_are_named(services: Services) -> None:
    bad = {
        41: "居民41,12345,幸福里社区,1号楼,1单元,142,独居老人,13912345678",  # not a number
        250: "居民250,13800130250,幸福里社区,6号楼,1单元,101,会飞的人,13912345678",  # unknown category
        498: "居民498,13800130498,幸福里社区,10号楼,1单元,149,独居老人,13700000000",  # not a liaison
    }
    with services.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone="13912345678", region="CN")
    with services.sessions() as session:
        report = register.import_residents(session, five_hundred_rows(bad), region="CN", vocabulary=VOCABULARY)
        session.rollback()
    assert sorted({e.line for e in report.errors}) == [43, 252, 500]  # line 1 is the header
    assert [e.column for e in sorted(report.errors, key=lambda e: e.line)] == ["电话", "类别", "联络员电话"]
    assert "'12345'" in str(report.errors[0]) and "会飞的人" in str(report.errors[1])
    with services.sessions() as session:
        assert resident_count(session) == 0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("电话\n13800138000\n", "line 1, 姓名: column missing"),
        ("姓名,电话,生日\n梁,13800138000,1950\n", "line 1, 生日: is not a column we know"),
        ("姓名,电话,姓名\n梁,13800138000,梁\n", "line 1, 姓名: repeats the column"),
        ("姓名,电话\n梁,13800138000\n梁,13800138000\n", "line 3, 姓名: repeats line 2"),
        ("姓名,电话\n梁,+1 650 253 0000\n", "line 2, 电话: '+1 650 253 0000' is a number of US, not CN"),
        ("姓名,电话\n,13800138000\n", "line 2, 姓名: is empty"),
        ("姓名,电话,联系方式\n王,0371-66881234,短信\n", "line 2, 联系方式: a landline cannot receive SMS"),
        ("姓名,电话,网格\n梁,13800138000,第1网格\n", "line 2, 网格: needs the community"),
        ("姓名,电话,联络员电话\n张敏,13912345678,13912345678\n", "line 2, 联络员电话: is the resident's own number"),
        ("姓名,电话,风险等级\n梁,13800138000,紫\n", "line 2, 风险等级: '紫' is not one of 红、橙、黄、绿、无"),
        ("姓名,电话\n梁,13800138000,多余\n", "line 2, (row): has 3 cells but the header has 2 columns"),
        ("编号,姓名,电话\n99,梁,13800138000\n", "line 2, 编号: '99' is not a resident"),
        ("", "line 1, (file): is empty"),
    ],
)
def test_bad_files_get_a_clear_message_naming_row_and_field(services: Services, content: str, expected: str) -> None:
    with services.sessions() as session:
        register.add_liaison(session, name="张敏", phone="13912345678", region="CN")
        report = register.import_residents(session, content.encode(), region="CN", vocabulary=VOCABULARY)
        session.rollback()
    assert any(str(e).startswith(expected) for e in report.errors), [str(e) for e in report.errors]


def test_stopping_a_liaison_by_file_moves_households_to_the_backup(services: Services) -> None:
    with services.sessions.begin() as session:
        load_examples(session)
        report = register.import_liaisons(
            session,
            "电话,姓名,在岗\n13912345678,张敏,否\n13912345680,赵华,否\n".encode(),
            region="CN",
            vocabulary=VOCABULARY,
        )
        assert report.ok and report.updated == [2, 3]
        households = {h.id: h for h in session.scalars(select(Household))}
        liaisons = {x.name: x for x in session.scalars(select(Liaison))}
        served_by_li = [h for h in households.values() if h.primary_liaison_id == liaisons["李强"].id]
        assert len(served_by_li) == 2  # 张敏's two households passed to their backup
        [uncovered] = report.deactivations[1].uncovered  # 赵华's household had no backup
        assert uncovered.primary_liaison_id is None


def test_cli_dry_run_changes_nothing_and_import_export_work(
    services: Services, environ: dict[str, str], tmp_path: Path
) -> None:
    runner = CliRunner(env=environ)
    result = runner.invoke(main, ["import", "liaisons", str(EXAMPLES / "liaisons.csv")])
    assert result.exit_code == 0 and "3 new" in result.output, result.output
    dry = runner.invoke(main, ["import", "residents", str(EXAMPLES / "residents.csv"), "--dry-run"])
    assert dry.exit_code == 0 and "would be new: lines 2, 3, 4, 5" in dry.output and "nothing was changed" in dry.output
    with services.sessions() as session:
        assert resident_count(session) == 0
    assert runner.invoke(main, ["import", "residents", str(EXAMPLES / "residents.csv")]).exit_code == 0
    out = tmp_path / "out.csv"
    assert runner.invoke(main, ["export", "residents", str(out), "--headers", "en"]).exit_code == 0
    assert out.read_bytes().decode("utf-8-sig").startswith("id,name,phones,")
    bad = tmp_path / "bad.csv"
    bad.write_text("姓名,电话\n梁,123\n", encoding="utf-8")
    failed = runner.invoke(main, ["import", "residents", str(bad)])
    assert failed.exit_code == 1 and "line 2, 电话" in failed.output and "nothing was imported" in failed.output
