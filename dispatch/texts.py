"""The SMS message catalog, read from `ivr_scripts/sms_texts.toml` and checked on load."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dispatch.exceptions import MessageCatalogError
from dispatch.script_data import load_versioned_toml
from ivr_scripts import SCRIPTS_DIR

SMS_TEXTS_FILE = SCRIPTS_DIR / "sms_texts.toml"
SUPPORTED_VERSIONS = (1,)
FALLBACK_LANGUAGE = "zh-CN"


def _placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


@dataclass(frozen=True)
class MessageCatalog:
    """Texts by language and key. Every language has every key, with the same placeholders."""

    version: int
    texts: Mapping[str, Mapping[str, str]]

    @classmethod
    def load(cls, path: Path = SMS_TEXTS_FILE) -> MessageCatalog:
        """Read and check a catalog file.

        Raises:
            MessageCatalogError: The file is unreadable, of an unknown version, or inconsistent.
        """
        data = load_versioned_toml(path, SUPPORTED_VERSIONS)
        version = data.pop("version")
        if FALLBACK_LANGUAGE not in data:
            raise MessageCatalogError(f"{path.name}: has no [{FALLBACK_LANGUAGE}] table")
        reference = data[FALLBACK_LANGUAGE]
        for language, table in data.items():
            if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
                raise MessageCatalogError(f"{path.name}: [{language}] must map keys to strings")
            if set(table) != set(reference):
                missing = sorted(set(reference) ^ set(table))
                raise MessageCatalogError(
                    f"{path.name}: [{language}] keys differ from [{FALLBACK_LANGUAGE}]: {missing}"
                )
            for key, template in table.items():
                try:
                    fields = _placeholders(template)
                except ValueError as exc:
                    raise MessageCatalogError(f"{path.name}: [{language}] {key}: {exc}") from exc
                if fields != _placeholders(reference[key]):
                    raise MessageCatalogError(f"{path.name}: [{language}] {key} has other placeholders than zh-CN")
        return cls(version=version, texts=data)

    @classmethod
    def load_all(cls, paths: list[Path]) -> MessageCatalog:
        """Several catalog files as one (the console keeps one file per page). A key may be in only one file.

        Raises:
            MessageCatalogError: A file is bad, the files' languages differ, or two files share a key.
        """
        parts = [cls.load(path) for path in paths]
        merged: dict[str, dict[str, str]] = {language: {} for language in parts[0].texts}
        for path, part in zip(paths, parts, strict=True):
            if set(part.texts) != set(merged):
                raise MessageCatalogError(f"{path.name}: has other languages than {paths[0].name}")
            for language, table in part.texts.items():
                shared = set(table) & set(merged[language])
                if shared:
                    raise MessageCatalogError(f"{path.name}: keys already in another file: {sorted(shared)}")
                merged[language].update(table)
        return cls(version=parts[0].version, texts=merged)

    def render(self, key: str, language: str, **fields: object) -> str:
        """The text `key` in `language` (zh-CN if the language is unknown), filled in with `fields`."""
        table = self.texts.get(language) or self.texts[FALLBACK_LANGUAGE]
        return table[key].format(**fields)
