"""The reply parser's published behaviour: tests/data/replies.tsv, one real-style reply a line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.exceptions import MessageCatalogError
from dispatch.resident_replies import ReplyVocabulary, parse_reply

TABLE = Path(__file__).parent / "data" / "replies.tsv"
VOCABULARY = ReplyVocabulary.load()


def cases() -> list[tuple[str, str]]:
    rows = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            text, expected = line.split("\t")
            rows.append((text, expected))
    return rows


def test_the_table_is_big_enough_to_mean_something() -> None:
    rows = cases()
    assert len(rows) >= 600
    assert sum("unwell" in expected for _, expected in rows) * 3 >= len(rows)  # a third of it about health
    assert len({text for text, _ in rows}) == len(rows)  # each reply once


def misreadings(rows: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """Health misreadings (a line about health not read as unwell), and any other misreading."""
    health, other = [], []
    for text, expected in rows:
        got = parse_reply(text, VOCABULARY).describe()
        if got == expected:
            continue
        line = f"{text!r}: read as {got!r}, expected {expected!r}"
        (health if "unwell" in expected and "unwell" not in got else other).append(line)
    return health, other


def test_every_line_of_the_table_is_read_as_published() -> None:
    health, other = misreadings(cases())
    for line in health:
        print(f"HEALTH MISREADING {line}")
    for line in other:
        print(f"misreading {line}")
    assert not health, f"{len(health)} health misreadings (see the HEALTH MISREADING lines)"
    assert not other, f"{len(other)} misreadings"


def test_a_health_misreading_is_told_apart_from_the_rest() -> None:
    health, other = misreadings([("头晕", "fine"), ("好的", "unwell"), ("买菜", "medicine")])
    assert health == ["'好的': read as 'fine', expected 'unwell'"]
    assert other == ["'头晕': read as 'unwell', expected 'fine'", "'买菜': read as 'groceries', expected 'medicine'"]


def test_the_fever_threshold_is_a_setting() -> None:
    assert parse_reply("37.2", VOCABULARY, fever_threshold=37.0).describe() == "unwell t=37.2"
    assert parse_reply("37.5", VOCABULARY, fever_threshold=38.0).describe() == "fine t=37.5"


def test_the_digit_menu_is_shared_data_with_labels_in_both_languages() -> None:
    assert VOCABULARY.digits == {
        "1": "fine",
        "2": "groceries",
        "3": "medicine",
        "4": "unwell",
        "5": "rubbish",
        "0": "callback",
    }
    assert all(set(labels) == {"zh-CN", "en"} for labels in VOCABULARY.digit_labels.values())


def test_a_file_naming_an_unknown_meaning_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "reply_keywords.toml"
    bad.write_text('version = 1\n[meanings.flying]\nzh-CN = ["飞"]\n', encoding="utf-8")
    with pytest.raises(MessageCatalogError, match="flying"):
        ReplyVocabulary.load(keywords=bad)


def test_a_phrase_with_two_meanings_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "reply_keywords.toml"
    good = (Path(__file__).parents[1] / "ivr_scripts" / "reply_keywords.toml").read_text(encoding="utf-8")
    twice = good.replace("[meanings.rubbish]\nzh-CN = [", '[meanings.rubbish]\nzh-CN = ["头晕", ')
    bad.write_text(twice, encoding="utf-8")
    with pytest.raises(MessageCatalogError, match="头晕"):
        ReplyVocabulary.load(keywords=bad)


def test_a_broken_temperature_table_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "reply_keywords.toml"
    good = (Path(__file__).parents[1] / "ivr_scripts" / "reply_keywords.toml").read_text(encoding="utf-8")
    bad.write_text(good.replace('half = ["半"]', 'half = "半"'), encoding="utf-8")
    with pytest.raises(MessageCatalogError, match=r"\[temperature\] half"):
        ReplyVocabulary.load(keywords=bad)


def test_a_partly_read_reply_is_not_understood_and_keeps_its_temperature() -> None:
    reading = parse_reply("36.5 暖气坏了好冷", VOCABULARY)
    assert (reading.fine, reading.understood, reading.temperature, reading.needs) == (False, False, 36.5, ())
    assert parse_reply("36.5", VOCABULARY).fine and parse_reply("36.5", VOCABULARY).understood


def test_a_temperature_leaves_no_digit_for_the_menu() -> None:
    assert parse_reply("37°5", VOCABULARY).needs == ("unwell",)  # not 5, rubbish
    assert parse_reply("体温36度5", VOCABULARY).needs == ()  # not 5, rubbish
    assert parse_reply("36.5 5", VOCABULARY).needs == ("rubbish",)  # a digit apart from it is still a choice


RESIDENTS_UNCLEAR = [
    "好，爷爷头",
    "平安，妈妈头",
    "我好，妈妈眼睛",
    "好，女儿腰",
    "没事，爸爸腿脚",
    "fine, with my leg",
    "fine, her leg",
    "ok, him",
]


@pytest.mark.parametrize("text", RESIDENTS_UNCLEAR)
def test_family_words_are_read_only_in_a_family_message_so_a_residents_unclear_reply_is_not_fine(text: str) -> None:
    assert not parse_reply(text, VOCABULARY).fine  # a resident's own words: 妈妈, 女儿, with, her are not read
    assert not parse_reply(text, VOCABULARY, family=True).fine  # nor in a family member's: a body part is named


@pytest.mark.parametrize(
    "text", ["妈妈头晕", "妈妈头", "她没事，妈妈腿", "妈妈腿好多了", "mum's leg", "she is fine, her leg"]
)
def test_a_family_message_naming_a_part_of_the_body_is_never_fine(text: str) -> None:
    reading = parse_reply(text, VOCABULARY, family=True)
    assert not reading.fine and (reading.urgent or not reading.understood)


@pytest.mark.parametrize("text", ["我在妈妈这里，她没事", "平安", "FINE", "she is fine", "mum is ok", "爸爸挺好的"])
def test_a_family_member_saying_the_resident_is_fine_reads_as_fine_with_the_family_words(text: str) -> None:
    assert parse_reply(text, VOCABULARY, family=True).fine
