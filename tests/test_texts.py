"""The SMS catalog in ivr_scripts/ is versioned data, checked on load."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.exceptions import MessageCatalogError
from dispatch.texts import MessageCatalog


def test_shipped_catalog_loads_in_both_languages() -> None:
    catalog = MessageCatalog.load()
    assert catalog.version == 1
    assert set(catalog.texts) == {"zh-CN", "en"}
    assert "张敏" in catalog.render("resident_receipt", "zh-CN", resident_name="梁阿姨", liaison_name="张敏")
    # An unknown language falls back to zh-CN, never to nothing.
    assert catalog.render("unknown_sender_reply", "fr") == catalog.render("unknown_sender_reply", "zh-CN")


def test_unknown_sender_reply_fits_one_chinese_segment() -> None:
    assert len(MessageCatalog.load().render("unknown_sender_reply", "zh-CN")) <= 70


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('version = 99\n["zh-CN"]\na = "x"\n', "version"),
        ('version = 1\n[en]\na = "x"\n', "zh-CN"),
        ('version = 1\n["zh-CN"]\na = "x"\nb = "y"\n[en]\na = "x"\n', "keys differ"),
        ('version = 1\n["zh-CN"]\na = "{name}"\n[en]\na = "{nom}"\n', "placeholders"),
        ('version = 1\n["zh-CN"]\na = "{unclosed"\n[en]\na = "x"\n', "a"),
        ("version = \n", "sms_texts.toml"),
    ],
)
def test_malformed_catalogs_are_refused(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "sms_texts.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(MessageCatalogError) as caught:
        MessageCatalog.load(path)
    assert problem in str(caught.value)
