"""Properties, checked with hypothesis: phone parsing, and export → import changing nothing."""

from __future__ import annotations

import csv
import io

import phonenumbers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.pool import StaticPool

from dispatch import register
from dispatch.db import make_engine, make_session_factory
from dispatch.exceptions import InvalidPhoneNumber
from dispatch.models import Base
from dispatch.phones import normalize_phone, parse_register_phone

MOBILE_PREFIXES = ["130", "135", "138", "139", "150", "158", "186", "189"]
mobiles = st.builds(
    lambda p, rest: p + rest, st.sampled_from(MOBILE_PREFIXES), st.text("0123456789", min_size=8, max_size=8)
)
VOCABULARY = register.Vocabulary.load()


SHAPES = {
    "plain": lambda n: n,
    "+86": lambda n: "+86" + n,
    "spaced": lambda n: f"+86 {n[:3]} {n[3:7]} {n[7:]}",
    "0086": lambda n: "0086" + n,
    "dashed": lambda n: f"{n[:3]}-{n[3:7]}-{n[7:]}",
}


@given(mobiles, st.sampled_from(sorted(SHAPES)))
def test_every_way_of_writing_a_mobile_gives_one_e164(number: str, shape: str) -> None:
    e164 = normalize_phone(SHAPES[shape](number), "CN")
    assert e164 == "+86" + number
    assert normalize_phone(e164, "CN") == e164  # idempotent
    assert not parse_register_phone(e164, "CN").landline


@given(
    st.text(st.characters(exclude_categories=()), max_size=30) | st.from_regex(r"\+?[0-9 ()-]{3,20}", fullmatch=True)
)
def test_any_text_is_a_home_number_or_a_clear_refusal(raw: str) -> None:
    """Never another exception; and whatever is accepted is a valid number of the home region."""
    try:
        phone = parse_register_phone(raw, "CN")
    except InvalidPhoneNumber as exc:
        assert exc.raw == raw and exc.reason
    else:
        number = phonenumbers.parse(phone.e164, None)
        assert phonenumbers.is_valid_number(number) and phonenumbers.region_code_for_number(number) == "CN"


names = st.text("梁王李张刘陈秀英华玉兰德福国强 ·", min_size=1, max_size=6).filter(lambda s: s.strip())
free_text = st.text(
    st.characters(exclude_categories=["Cc"]) | st.sampled_from([",", '"', "\n", "；", "\ud800"]), max_size=20
)


@st.composite
def registers(draw: st.DrawFn) -> bytes:
    """A residents file as an office might keep it: awkward cells included."""
    header = ["姓名", "电话", "社区", "楼栋", "单元", "房号", "类别", "风险等级", "联系方式", "备注", "紧急联系人"]
    rows = []
    numbers = draw(st.lists(mobiles, min_size=2, max_size=8, unique=True))
    for i, number in enumerate(numbers[1:]):
        # Some have a second number, some share the first number of the file (a household's one phone).
        extra = draw(st.sampled_from(["", ";" + numbers[0], "、" + numbers[(i + 2) % len(numbers)]]))
        categories = draw(
            st.lists(st.sampled_from(["独居老人", "残疾", "慢性病", "孕妇", "儿童", "居家观察"]), max_size=3)
        )
        rows.append(
            [
                f"{draw(names)}{i}",
                number + extra,
                "幸福里社区",
                draw(st.sampled_from(["1号楼", "2号楼", ""])),  # a blank part: a household of its own
                "1单元",
                str(101 + i),
                "、".join(categories),
                draw(st.sampled_from(["红", "橙", "黄", "绿", "无", ""])),
                draw(st.sampled_from(["短信", "语音", ""])),
                draw(free_text),
                draw(free_text),
            ]
        )
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    codec = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
    # A lone surrogate cannot be in a UTF-8 or GB18030 file: a spreadsheet saving one writes "?" in its place.
    return buffer.getvalue().encode(codec, "replace")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(registers(), st.sampled_from([0, 1]))
def test_export_then_import_changes_nothing(data: bytes, language: int) -> None:
    engine = make_engine("sqlite://", poolclass=StaticPool)
    Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        first = register.import_residents(session, data, region="CN", vocabulary=VOCABULARY)
        assert first.ok, [str(e) for e in first.errors]
        rows = len(list(csv.reader(io.StringIO(register.csv_read.decode(data))))) - 1
        assert len(first.created) == rows and len(register.list_residents(session)) == rows
        exported = register.export_residents(session, VOCABULARY, language)
    with sessions.begin() as session:
        again = register.import_residents(session, exported, region="CN", vocabulary=VOCABULARY)
        assert again.ok and again.created == [] and again.updated == [], again
        assert register.export_residents(session, VOCABULARY, language) == exported
    engine.dispose()
