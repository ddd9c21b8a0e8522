"""The reply parser's published behaviour: tests/data/replies.tsv, one real-style reply a line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.exceptions import MessageCatalogError
from dispatch.replies import ReplyVocabulary, parse_reply

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
    assert len(cases()) >= 150


@pytest.mark.parametrize(("text", "expected"), cases())
def test_reply_table(text: str, expected: str) -> None:
    assert parse_reply(text, VOCABULARY).describe() == expected


def test_the_fever_threshold_is_a_setting() -> None:
    assert parse_reply("37.2", VOCABULARY, fever_threshold=37.0).describe() == "unwell t=37.2"
    assert parse_reply("37.5", VOCABULARY, fever_threshold=38.0).describe() == "fine t=37.5"


def test_the_digit_menu_is_shared_data_with_labels_in_both_languages() -> None:
    assert VOCABULARY.digits == {"1": "fine", "2": "groceries", "3": "medicine", "4": "unwell", "5": "rubbish",
                                 "0": "callback"}  # fmt: skip
    assert all(set(labels) == {"zh-CN", "en"} for labels in VOCABULARY.digit_labels.values())


def test_a_file_naming_an_unknown_meaning_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "reply_keywords.toml"
    bad.write_text('version = 1\n[meanings.flying]\nzh-CN = ["飞"]\n', encoding="utf-8")
    with pytest.raises(MessageCatalogError, match="flying"):
        ReplyVocabulary.load(keywords=bad)
