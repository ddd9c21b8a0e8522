"""Reading a register CSV (花名册): encoding, headers in Chinese or English, and every cell checked.

Nothing here touches the database. Each problem is a `RowError` naming the line and the column as written in
the file, so an office can fix its spreadsheet.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from dispatch.exceptions import InvalidPhoneNumber, MessageCatalogError
from dispatch.phones import Phone, normalize_phone, parse_register_phone
from ivr_scripts import SCRIPTS_DIR

COLUMNS_FILE = SCRIPTS_DIR / "register_columns.toml"
SUPPORTED_VERSIONS = (1,)
# Several phones or categories in one cell: 13800138000;13900139000, 独居老人、慢性病
_LIST_SEPARATORS = re.compile(r"[;；、/,，|]+")


@dataclass(frozen=True)
class RowError:
    """One problem in one row of the file."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.column}: {self.message}"


class CsvFileError(Exception):
    """The file as a whole cannot be read: encoding, or its header row."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text.replace("\ufeff", "")).lower()


@dataclass(frozen=True)
class Vocabulary:
    """Column headers and cell values, as spelled in `ivr_scripts/register_columns.toml`."""

    tables: Mapping[str, Mapping[str, list[str]]]
    values: Mapping[str, Mapping[str, list[str]]]

    @classmethod
    def load(cls, path: Path = COLUMNS_FILE) -> Vocabulary:
        """Read and check the vocabulary file.

        Raises:
            MessageCatalogError: the file is malformed or of an unknown version.
        """
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise MessageCatalogError(f"{path.name}: {exc}") from exc
        if data.get("version") not in SUPPORTED_VERSIONS:
            raise MessageCatalogError(f"{path.name}: version {data.get('version')!r} is not supported")
        values = data.get("values", {})
        tables = {name: data[name] for name in ("residents", "liaisons")}
        for group in [*tables.values(), *values.values()]:
            for key, spellings in group.items():
                if not isinstance(spellings, list) or len(spellings) < 2:
                    raise MessageCatalogError(f"{path.name}: {key} needs a Chinese and an English spelling")
        return cls(tables=tables, values=values)

    def header(self, table: str, key: str, language: int) -> str:
        """The header for column `key` in `table`: language 0 is Chinese, 1 English."""
        return self.tables[table][key][language]

    def header_keys(self, table: str) -> dict[str, str]:
        """Every accepted spelling of every header of `table`, normalised, to its column key."""
        return {_norm(spelling): key for key, spellings in self.tables[table].items() for spelling in spellings}

    def value_key(self, kind: str, raw: str) -> str | None:
        """The key of a cell value of `kind` (e.g. 慢性病 → chronically_ill), or None if not known."""
        wanted = _norm(raw)
        for key, spellings in self.values[kind].items():
            if wanted in (_norm(s) for s in spellings):
                return key
        return None

    def display(self, kind: str, key: str, language: int) -> str:
        """How to write value `key` of `kind` in a file: language 0 is Chinese, 1 English."""
        return self.values[kind][key][language]


def decode(data: bytes) -> str:
    """The text of a CSV file saved as UTF-8 (with or without BOM) or GB18030, which Excel in China writes.

    Raises:
        CsvFileError: it is none of these.
    """
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise CsvFileError([RowError(1, "(file)", "is neither UTF-8 nor GB18030 text")]) from None


@dataclass(frozen=True)
class Row:
    """One data row: its line number in the file, and its cells by column key (blank cells left out)."""

    line: int
    cells: dict[str, str]
    headers: dict[str, str]  # column key → the header as written in the file, for messages
    problem: str | None = None  # the row as a whole is malformed

    def error(self, key: str, message: str) -> RowError:
        """A problem with this row's column `key`."""
        return RowError(self.line, self.headers.get(key, key), message)


def read_rows(data: bytes, vocabulary: Vocabulary, table: str, required: tuple[str, ...]) -> Iterator[Row]:
    """The rows of a register file, with headers mapped to column keys.

    Raises:
        CsvFileError: undecodable, no header row, unknown or repeated columns, or required columns missing.
    """
    text = decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise CsvFileError([RowError(1, "(file)", "is empty")]) from None
    except csv.Error as exc:
        raise CsvFileError([RowError(1, "(file)", f"is not valid CSV: {exc}")]) from None
    known = vocabulary.header_keys(table)
    errors: list[RowError] = []
    keys: list[str | None] = []
    written: dict[str, str] = {}
    for raw in header:
        key = known.get(_norm(raw))
        if key is None and _norm(raw):
            errors.append(RowError(1, raw, "is not a column we know"))
        elif key is not None and key in written:
            errors.append(RowError(1, raw, f"repeats the column {written[key]}"))
        elif key is not None:
            written[key] = raw.strip()
        keys.append(key)
    for key in required:
        if key not in written:
            spellings = vocabulary.tables[table][key]
            errors.append(RowError(1, spellings[0], f"column missing (also accepted: {', '.join(spellings[1:])})"))
    if errors:
        raise CsvFileError(errors)
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > len(keys) and any(c.strip() for c in cells[len(keys) :]):
                problem = f"has {len(cells)} cells but the header has {len(keys)} columns"
                yield Row(reader.line_num, {}, written, problem)
                continue
            values = {k: c.strip() for k, c in zip(keys, cells, strict=False) if k is not None and c.strip()}
            yield Row(reader.line_num, values, written)
    except csv.Error as exc:
        raise CsvFileError([RowError(reader.line_num, "(file)", f"is not valid CSV: {exc}")]) from None


def split_list(cell: str | None) -> list[str]:
    """Split a cell holding several values: `a;b`, `a、b`, `a/b`."""
    return [part.strip() for part in _LIST_SEPARATORS.split(cell or "") if part.strip()]


def parse_phones(row: Row, key: str, region: str, errors: list[RowError]) -> list[Phone]:
    """The register numbers in cell `key`; problems are added to `errors`."""
    phones = []
    for raw in split_list(row.cells.get(key)):
        try:
            phones.append(parse_register_phone(raw, region))
        except InvalidPhoneNumber as exc:
            errors.append(row.error(key, f"{raw!r} {exc.reason}"))
    return phones


def parse_any_phone(row: Row, key: str, region: str, errors: list[RowError]) -> str | None:
    """A number of any country in cell `key` (an emergency contact may live abroad)."""
    raw = row.cells.get(key)
    if raw is None:
        return None
    try:
        return normalize_phone(raw, region)
    except InvalidPhoneNumber as exc:
        errors.append(row.error(key, f"{raw!r} {exc.reason}"))
        return None


def parse_value(row: Row, key: str, kind: str, vocabulary: Vocabulary, errors: list[RowError]) -> str | None:
    """The value key of cell `key`, or None if blank; an unknown word is an error listing the known ones."""
    raw = row.cells.get(key)
    if raw is None:
        return None
    value = vocabulary.value_key(kind, raw)
    if value is None:
        known = "、".join(spellings[0] for spellings in vocabulary.values[kind].values())
        errors.append(row.error(key, f"{raw!r} is not one of {known}"))
    return value


def parse_values(row: Row, key: str, kind: str, vocabulary: Vocabulary, errors: list[RowError]) -> list[str]:
    """The value keys of a cell holding several values (独居老人、慢性病), sorted, without repeats."""
    found = set()
    for raw in split_list(row.cells.get(key)):
        value = vocabulary.value_key(kind, raw)
        if value is None:
            known = "、".join(spellings[0] for spellings in vocabulary.values[kind].values())
            errors.append(row.error(key, f"{raw!r} is not one of {known}"))
        else:
            found.add(value)
    return sorted(found)
