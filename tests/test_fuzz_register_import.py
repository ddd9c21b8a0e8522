"""Bad input, fuzzed with hypothesis: the register CSV importer. A file is imported whole or refused with its own clear
error, and a refused import leaves every table as it was. CI runs a fixed set of examples; `HOTLINE_FUZZ_EXAMPLES=N`
runs N random ones instead."""

from __future__ import annotations

import csv
import hashlib
import io

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch import register
from dispatch.models import Base, Liaison, Resident
from hotline.services import Services
from tests.conftest import BACKUP_PHONE, LIAISON_PHONE, PHONES
from tests.fuzz_helpers import examples, fuzz_settings, texts

CSV_VOCABULARY = register.Vocabulary.load()
mobiles = st.from_regex(r"1(3[0-9]|5[0-35-9]|8[0-9])[0-9]{8}", fullmatch=True)
ODD_NUMBERS = [LIAISON_PHONE, BACKUP_PHONE, "057112345678", "0571-1234567", "+14155550100", "110", "12345"]
HOMES = list(PHONES.values())  # the town's residents' numbers: a row may be one of them
numbers = st.one_of(mobiles, st.sampled_from([*HOMES, *ODD_NUMBERS, "+86 139 1234 5678"]))
names = st.text("梁王李张刘陈秀英华玉兰德福国强", min_size=2, max_size=4)


def _spellings(kind: str) -> st.SearchStrategy[str]:
    return st.sampled_from([s for spellings in CSV_VOCABULARY.values[kind].values() for s in spellings])


# What an office would write in each column; a messy file has some of the bad cells below instead.
GOOD: dict[str, st.SearchStrategy[str]] = {
    "name": names,
    "phone": mobiles,
    "emergency_contact_name": names,
    "id": st.just(""),
    "phones": st.one_of(mobiles, st.lists(mobiles, min_size=2, max_size=2).map("；".join), st.sampled_from(HOMES)),
    "community": st.sampled_from(["幸福里社区", "新社区"]),
    "grid": st.sampled_from(["第1网格", "第2网格"]),
    "building": st.sampled_from(["1号楼", "2号楼"]),
    "unit": st.just("1单元"),
    "room": st.integers(100, 110).map(str),
    "categories": st.lists(_spellings("categories"), max_size=3).map("、".join),
    "language": _spellings("language"),
    "channel": st.sampled_from(["语音", "voice"]),
    "risk": _spellings("risk"),
    "status": _spellings("status"),
    "role": _spellings("role"),
    "active": _spellings("active"),
    "emergency_contact_phone": st.one_of(mobiles, st.just("+14155550100")),
    "liaison_phone": st.sampled_from([LIAISON_PHONE, "13912345678"]),
    "backup_liaison_phone": st.sampled_from([BACKUP_PHONE, "139 1234 5679"]),
    "notes": st.text(st.characters(blacklist_categories=["Cc", "Cs"]), max_size=30),
}
BAD: dict[str, st.SearchStrategy[str]] = {
    "id": st.one_of(st.integers(0, 20).map(str), st.sampled_from(["²", "٣", "1.0", "-1", "9" * 40]), texts),
    "name": st.one_of(st.sampled_from([*PHONES, "张敏", "李强"]), texts, st.text(min_size=99, max_size=102)),
    "phones": st.one_of(numbers, st.lists(numbers, min_size=2, max_size=3).map("；".join), texts),
    "community": st.one_of(texts, st.text(min_size=100, max_size=101)),
    "channel": st.one_of(texts, st.just("短信")),
    "building": st.one_of(texts, st.text(min_size=40, max_size=41)),
    "notes": st.one_of(texts, st.text(min_size=1999, max_size=2001)),
}


def cell(key: str) -> st.SearchStrategy[str]:
    return BAD.get(key, st.one_of(GOOD[key], texts))


@st.composite
def register_files(draw: st.DrawFn, table: str) -> bytes:
    """A register file: real and unknown headers in any order and spelling, cells good and bad, rows short and
    long, in UTF-8, UTF-8 with BOM or GB18030, sometimes with bytes broken; or any bytes at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    messy = draw(st.booleans())  # else tidy: every cell one an office would write, and the header right
    columns = CSV_VOCABULARY.tables[table]
    keys = draw(st.lists(st.sampled_from(sorted(columns)), max_size=8))
    keys = ["name", *(["phones"] if table == "residents" else []), *keys]
    if messy and draw(st.booleans()):
        keys = keys[draw(st.integers(0, 2)) :]  # a required column missing, sometimes
    keys = list(dict.fromkeys(keys)) if not messy or draw(st.integers(0, 5)) else keys  # sometimes a column twice
    if not messy and "grid" in keys and "community" not in keys:
        keys.append("community")  # a grid belongs to a community
    if table == "liaisons" and not messy and "grid" not in keys and "community" in keys:
        keys.append("grid")
    header = [draw(st.sampled_from(columns[k])) for k in keys]
    if messy and draw(st.integers(0, 4)) == 0:
        header.insert(draw(st.integers(0, len(header))), draw(texts))  # a column nobody knows, or a blank one
    rows = []
    for _ in range(draw(st.integers(0, 5))):
        row = [draw(cell(k) if messy and draw(st.integers(0, 3)) == 0 else GOOD[k]) for k in keys]
        if messy and draw(st.integers(0, 4)) == 0:
            row += draw(st.lists(texts, max_size=2))  # cells past the header
        if messy and draw(st.integers(0, 4)) == 0:
            row = row[: draw(st.integers(0, len(row)))]  # a short row
        rows.append(row)
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    codec = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
    data = buffer.getvalue().encode(codec, "surrogatepass" if codec.startswith("utf-8") else "replace")
    if messy and draw(st.booleans()):  # broken on the way: bytes changed or put in, or cut short
        at = draw(st.integers(0, len(data)))
        broken = [b"\xff", b"\x80\x81", b"\xe4\xb8", b"\x00", b'"', b'"', b',"', b"\r", b""]
        data = data[:at] + draw(st.sampled_from(broken)) + data[at:]
        data = data[: draw(st.integers(at, len(data)))]
    return data


def digest(session: Session) -> str:
    """A fingerprint of every row of every table: equal digests, an unchanged database."""
    hashed = hashlib.sha256()
    for table in Base.metadata.sorted_tables:
        for row in session.execute(select(table).order_by(*table.primary_key.columns)):
            hashed.update(repr(tuple(row)).encode())
    return hashed.hexdigest()


def data_rows(data: bytes) -> int:
    """The rows with anything in them after the header (what a complete import must account for)."""
    rows = list(csv.reader(io.StringIO(register.csv_read.decode(data), newline="")))
    return sum(1 for row in rows[1:] if any(cell.strip() for cell in row))


IMPORTERS = {"residents": (register.import_residents, Resident), "liaisons": (register.import_liaisons, Liaison)}


def check_import(services: Services, data: bytes, table: str) -> None:
    """Import `data` as the CLI and the console do; whatever it holds, a refusal changes nothing at all and an
    acceptance accounts for every row."""
    importer, model = IMPORTERS[table]
    count = select(func.count()).select_from(model)
    with services.sessions() as session:
        before, rows_before = digest(session), session.scalar(count) or 0
        report = importer(session, data, region="CN", vocabulary=CSV_VOCABULARY)
        session.flush()
        if report.ok:
            assert len(report.created) + len(report.updated) + len(report.unchanged) == data_rows(data)
            assert session.scalar(count) == rows_before + len(report.created)
        else:
            assert all(isinstance(e.line, int) and e.line >= 1 and e.column and e.message for e in report.errors)
            assert report.created == report.updated == report.unchanged == []
            assert digest(session) == before, "a refused import wrote something"
        session.rollback()


@fuzz_settings(150)
@given(register_files("residents"))
@examples(
    # A new grid was flushed while its household listed a resident not yet in the session: an SAWarning.
    "姓名,电话,备用联络员电话,社区,网格\r\n兰兰,13000000000,+8613912345679,幸福里社区,第2网格\r\n".encode(),
    '姓名,电话\r\n梁阿姨,13800138000\r\n"王大爷,13800138001\r\n'.encode(),  # a quote never closed
    '姓名,电话\r\n"梁阿姨"x,13800138000\r\n'.encode("gb18030"),  # words after a closing quote
    "姓名,电话,备注\r\n新居民,13800138009,a\x00b\r\n".encode(),  # a NUL PostgreSQL cannot store
)
def test_any_residents_file_is_imported_whole_or_refused_without_a_trace(
    services: Services, town: dict[str, int], data: bytes
) -> None:
    check_import(services, data, "residents")


@fuzz_settings(100)
@given(register_files("liaisons"))
@examples(
    "姓名,编号\r\n,²\r\n".encode(),  # "²" passed isdigit() and broke int(): a 500
    "姓名,在岗\r\n,是\r\n".encode(),  # a row without a name passed the checks and broke the import: a 500
)
def test_any_liaisons_file_is_imported_whole_or_refused_without_a_trace(
    services: Services, town: dict[str, int], data: bytes
) -> None:
    check_import(services, data, "liaisons")
