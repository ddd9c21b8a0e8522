"""The awkward files offices really have: edited numbers, half-blank rows, conflicting rows, Excel's habits."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import register
from dispatch.models import Channel, Liaison, Resident
from dispatch.register.demo import generate_demo_register
from hotline.services import Services

VOCABULARY = register.Vocabulary.load()
HEAD = "姓名,电话,社区,楼栋,单元,房号,联络员电话,备用联络员电话,备注\n"


def residents_import(session: Session, text: str, encoding: str = "utf-8") -> register.ImportReport:
    return register.import_residents(session, text.encode(encoding), region="CN", vocabulary=VOCABULARY)


def liaisons_import(session: Session, text: str) -> register.ImportReport:
    return register.import_liaisons(session, text.encode(), region="CN", vocabulary=VOCABULARY)


@pytest.fixture
def sessions(services: Services) -> Callable[[], Session]:
    with services.sessions.begin() as session:
        report = liaisons_import(session, "姓名,电话\n张敏,13912345678\n李强,13912345679\n赵华,13912345680\n")
        assert report.ok
    return services.sessions


def residents(session: Session) -> list[Resident]:
    return register.list_residents(session)


def test_editing_a_residents_numbers_updates_them_in_place(sessions: Callable[[], Session]) -> None:
    with sessions() as session:
        assert residents_import(session, HEAD + "甲,13800138000,幸福里,1号楼,1单元,101,13912345678,,\n").ok
        session.commit()
        added = residents_import(session, HEAD + "甲,13800138000;13800138001,幸福里,1号楼,1单元,101,,,\n")
        assert added.ok and added.updated == [2]
        reordered = residents_import(session, HEAD + "甲,13800138001;13800138000,,,,,,,\n")
        assert reordered.ok and reordered.updated == [2]
        to_landline = residents_import(session, HEAD + "甲,0371-66881234;13800138000,,,,,,,\n")
        assert to_landline.ok, to_landline.errors
        session.commit()
        [resident] = residents(session)
        assert [p.phone for p in resident.phones] == ["+8637166881234", "+8613800138000"]
        assert resident.channel == Channel.VOICE  # the first number became a landline
        assert resident.household.primary_liaison is not None  # blank cells kept the household and its liaison


def test_the_same_number_twice_in_a_cell_counts_once(sessions: Callable[[], Session]) -> None:
    with sessions() as session:
        report = residents_import(session, HEAD + "甲,13800138000;138-0013-8000,,,,,,,\n")
        assert report.ok and [p.phone for p in residents(session)[0].phones] == ["+8613800138000"]


def test_a_phones_cell_of_separators_only_is_empty(sessions: Callable[[], Session]) -> None:
    with sessions() as session:
        report = residents_import(session, HEAD + "甲,、;,,,,,,,\n")
        assert [str(e) for e in report.errors] == ["line 2, 电话: is empty"]


def test_a_blank_address_part_keeps_the_household(sessions: Callable[[], Session]) -> None:
    with sessions() as session:
        assert residents_import(session, HEAD + "甲,13800138000,幸福里,1号楼,1单元,101,13912345678,,\n").ok
        session.commit()
        household = residents(session)[0].household_id
        report = residents_import(session, HEAD + "甲,13800138000,幸福里,,1单元,101,,,新备注\n")
        assert report.ok and report.updated == [2]
        assert residents(session)[0].household_id == household


def test_an_unclosed_quote_is_an_error_not_a_swallowed_file(sessions: Callable[[], Session]) -> None:
    with sessions() as session:
        report = residents_import(session, HEAD + '甲,13800138000,,,,,,,"unclosed\n乙,13800138001,,,,,,,\n')
        assert not report.ok and "is not valid CSV" in str(report.errors[0])
        assert residents(session) == []


def test_gb18030_that_is_also_valid_utf8_is_read_as_gb18030(sessions: Callable[[], Session]) -> None:
    with sessions() as session:
        report = residents_import(session, "name,phones,notes\n郑志强,13800138000,血压\n", encoding="gb18030")
        assert report.ok and residents(session)[0].name == "郑志强"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (HEAD.encode() + "甲,13800138000,,,,,,,".encode() + b"\xed\xa0\x80\n", "is neither UTF-8 nor GB18030 text"),
        (b"\xef\xbb\xbf" + HEAD.encode() + b"\xff\n", "starts as UTF-8 but is not UTF-8 text"),
    ],
)
def test_a_file_in_no_encoding_a_spreadsheet_writes_is_refused_whole(
    sessions: Callable[[], Session], data: bytes, error: str
) -> None:
    with sessions() as session:
        report = register.import_residents(session, data, region="CN", vocabulary=VOCABULARY)
        assert [str(e) for e in report.errors] == [f"line 1, (file): {error}"]
        assert residents(session) == []


def test_reimporting_shared_numbers_and_reordered_phones_duplicates_nobody(sessions: Callable[[], Session]) -> None:
    text = HEAD + "甲,13800138000,,,,,,,\n甲,13800138000;13800138001,,,,,,,\n"
    with sessions() as session:
        assert residents_import(session, text).ok
        session.commit()
        again = residents_import(session, text)
        assert again.ok and len(again.unchanged) == 2, again.errors
        swapped = residents_import(session, HEAD + "甲,13800138001;13800138000,,,,,,,\n")
        assert swapped.ok and swapped.updated == [2] and len(residents(session)) == 2


def test_an_id_must_belong_to_the_rows_person(sessions: Callable[[], Session]) -> None:
    with sessions() as session:
        assert residents_import(session, HEAD + "甲,13800138000,,,,,,,\n乙,13800138001,,,,,,,\n").ok
        session.commit()
        report = register.import_residents(
            session, "编号,姓名,电话\n1,乙,13800138001\n".encode(), region="CN", vocabulary=VOCABULARY
        )
        assert [str(e) for e in report.errors] == ["line 2, 编号: 1 is 甲 (138****8000), not this row's person"]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("甲,13800138000,幸福里,1号楼,1单元,101,13912345678,13912345679,\n"
         "乙,13800138001,幸福里,1号楼,1单元,101,13912345678,13912345680,\n",
         "line 3, 备用联络员电话: differs from line 2 for the same household"),
        ("甲,13800138000,幸福里,1号楼,1单元,101,13912345678,,\n"
         "乙,13800138001,幸福里,1号楼,1单元,101,,13912345678,\n",
         "line 3, 备用联络员电话: is the same person as the household's primary liaison"),
        ("甲,13800138000,幸福里,1号楼,1单元,101,13912345678,,\n"
         "张敏,13912345678,幸福里,1号楼,1单元,101,,,\n",
         "line 2, 联络员电话: lives in this household (line 3)"),
    ],
)  # fmt: skip
def test_rows_of_one_household_must_agree(sessions: Callable[[], Session], rows: str, expected: str) -> None:
    with sessions() as session:
        report = residents_import(session, HEAD + rows)
        assert any(str(e).startswith(expected) for e in report.errors), [str(e) for e in report.errors]
        assert residents(session) == []


def test_one_liaison_written_two_ways_is_one_liaison(sessions: Callable[[], Session]) -> None:
    rows = (
        "甲,13800138000,幸福里,1号楼,1单元,101,13912345678,,\n乙,13800138001,幸福里,1号楼,1单元,101,139 1234 5678,,\n"
    )
    with sessions() as session:
        assert residents_import(session, HEAD + rows).ok


def test_an_inactive_liaison_cannot_take_households(sessions: Callable[[], Session]) -> None:
    with sessions() as session:
        assert liaisons_import(session, "姓名,电话,在岗\n赵华,13912345680,否\n").ok
        report = residents_import(session, HEAD + "甲,13800138000,,,,,13912345680,,\n")
        assert [str(e) for e in report.errors] == ["line 2, 联络员电话: 赵华 is not an active liaison"]


def test_formulas_are_exported_harmless_and_read_back_as_text(sessions: Callable[[], Session]) -> None:
    with sessions() as session:
        assert residents_import(session, HEAD + "甲,13800138000,,,,,,,\"=cmd|' /C calc'!A0\"\n").ok
        session.commit()
        exported = register.export_residents(session, VOCABULARY).decode("utf-8-sig")
        assert "'=cmd|" in exported and ",=cmd" not in exported
        again = register.import_residents(session, exported.encode(), region="CN", vocabulary=VOCABULARY)
        assert again.ok and again.unchanged == [2] and residents(session)[0].notes == "=cmd|' /C calc'!A0"


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        ("甲,13800138000,幸福里," + "楼" * 41 + ",1单元,101,,,", "line 2, (row): 楼栋 is longer than 40 characters"),
        ("甲" * 101 + ",13800138000,,,,,,,", "line 2, (row): 姓名 is longer than 100 characters"),
        ("甲,13800138000,,,,,,,坏\x00字", "line 2, (row): 备注 contains control characters"),
    ],
)
def test_cells_no_column_can_hold_are_row_errors(sessions: Callable[[], Session], cells: str, expected: str) -> None:
    with sessions() as session:
        assert [str(e) for e in residents_import(session, HEAD + cells + "\n").errors] == [expected]


def test_liaison_files_do_not_duplicate_or_collide(sessions: Callable[[], Session]) -> None:
    with sessions() as session:
        assert liaisons_import(session, "姓名,电话\n无电话,\n").ok
        assert liaisons_import(session, "姓名,电话\n无电话,\n").unchanged == [2]
        assert len(session.scalars(select(Liaison).where(Liaison.name == "无电话")).all()) == 1
        clash = liaisons_import(session, "编号,姓名,电话\n1,张敏,13700000001\n,新人,13700000001\n")
        assert [str(e) for e in clash.errors] == ["line 3, 电话: repeats line 2"]
        half = liaisons_import(session, "姓名,电话,社区\n张敏,13912345678,幸福里\n")
        assert [str(e) for e in half.errors] == [
            "line 2, 网格: is needed too: a liaison belongs to a grid of a community"
        ]


def test_a_second_demo_community_draws_numbers_of_its_own(services: Services) -> None:
    with services.sessions.begin() as session:
        generate_demo_register(session, residents=60, seed=1, community_name="甲社区")
        second = generate_demo_register(session, residents=60, seed=1, community_name="乙社区")
    assert second.residents == 60
