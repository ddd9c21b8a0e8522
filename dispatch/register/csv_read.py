"""Reading a register file (花名册), CSV or .xlsx: encoding, headers in Chinese or English, and every cell checked.

Nothing here touches the database. Each problem is a `RowError` naming the line and the column as written in
the file, so an office can fix its spreadsheet.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from dispatch.exceptions import InvalidPhoneNumber, MessageCatalogError
from dispatch.phones import Phone, normalize_phone, parse_register_phone
from dispatch.register.xlsx import WorkbookError, is_xlsx, read_sheet
from dispatch.script_data import load_versioned_toml
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
    sheets: Mapping[str, list[str]]

    @classmethod
    def load(cls, path: Path = COLUMNS_FILE) -> Vocabulary:
        """Read and check the vocabulary file.

        Raises:
            MessageCatalogError: the file is malformed or of an unknown version.
        """
        data = load_versioned_toml(path, SUPPORTED_VERSIONS)
        values = data.get("values", {})
        tables = {name: data[name] for name in ("residents", "liaisons")}
        sheets = data.get("sheets", {})
        if set(sheets) != set(tables):
            raise MessageCatalogError(f"{path.name}: [sheets] needs a name for each of {', '.join(tables)}")
        for group in [*tables.values(), *values.values(), sheets]:
            for key, spellings in group.items():
                if not isinstance(spellings, list) or len(spellings) < 2:
                    raise MessageCatalogError(f"{path.name}: {key} needs a Chinese and an English spelling")
        return cls(tables=tables, values=values, sheets=sheets)

    def header(self, table: str, key: str, language: int) -> str:
        """The header for column `key` in `table`: language 0 is Chinese, 1 English."""
        return self.tables[table][key][language]

    def sheet(self, table: str, language: int) -> str:
        """The sheet's name for `table` in an .xlsx export: language 0 is Chinese, 1 English."""
        return self.sheets[table][language]

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


_HAN = re.compile(r"[\u4e00-\u9fff]")
# Cells Excel would run as formulas. Export puts a ' before them, import takes it off (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_CELL = {
    "name": 100,
    "emergency_contact_name": 100,
    "community": 100,
    "grid": 100,
    "building": 40,
    "unit": 40,
    "room": 40,
}
MAX_ANY_CELL = 2000
# What no register cell may hold: control characters (a NUL, a vertical tab pasted from Word), which neither the
# database nor a workbook takes.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def decode(data: bytes) -> str:
    """The text of a CSV file saved as UTF-8 (with or without BOM) or GB18030, which Excel in China writes.

    Some GB18030 bytes are also valid UTF-8 (郑志强 is), so a file without a BOM that decodes as UTF-8 but holds
    no Chinese characters, while it does as GB18030, is read as GB18030.

    Raises:
        CsvFileError: it is none of these.
    """
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8) :].decode("utf-8")
        except UnicodeDecodeError:
            raise CsvFileError([RowError(1, "(file)", "starts as UTF-8 but is not UTF-8 text")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and _HAN.search(text):
        return text
    try:
        gb = data.decode("gb18030")
    except UnicodeDecodeError:
        gb = None
    if gb is not None and (text is None or _HAN.search(gb)):
        return gb
    if text is not None:
        return text
    raise CsvFileError([RowError(1, "(file)", "is neither UTF-8 nor GB18030 text")])


def unescape_cell(cell: str) -> str:
    """Undo export's guard against formulas: `'=SUM(1)` is the text `=SUM(1)`."""
    return cell[1:] if cell.startswith("'") and cell[1:2] and cell[1] in "=+-@\t\r" else cell


def escape_cell(cell: str) -> str:
    """Keep Excel from running a cell as a formula, by a leading `'` that import removes again."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


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
    """The rows of a register file, CSV or an .xlsx workbook's first sheet, with headers mapped to column keys.

    Raises:
        CsvFileError: undecodable, no header row, unknown or repeated columns, or required columns missing.
    """
    records = _workbook_records(data) if is_xlsx(data) else _csv_records(data)
    try:
        header_line, header = next(records)
    except StopIteration:
        raise CsvFileError([RowError(1, "(file)", "is empty")]) from None
    known = vocabulary.header_keys(table)
    errors: list[RowError] = []
    keys: list[str | None] = []
    written: dict[str, str] = {}
    for raw in header:
        key = known.get(_norm(raw))
        if key is None and _norm(raw):
            errors.append(RowError(header_line, raw, "is not a column we know"))
        elif key is not None and key in written:
            errors.append(RowError(header_line, raw, f"repeats the column {written[key]}"))
        elif key is not None:
            written[key] = raw.strip()
        keys.append(key)
    for key in required:
        if key not in written:
            spellings = vocabulary.tables[table][key]
            message = f"column missing (also accepted: {', '.join(spellings[1:])})"
            errors.append(RowError(header_line, spellings[0], message))
    if errors:
        raise CsvFileError(errors)
    # Messages name a column as the file wrote it, or in Chinese when the file has no such column.
    names = {key: spellings[0] for key, spellings in vocabulary.tables[table].items()} | written
    for line, cells in records:
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(keys) and any(c.strip() for c in cells[len(keys) :]):
            yield Row(line, {}, names, f"has {len(cells)} cells but the header has {len(keys)} columns")
            continue
        values = {k: unescape_cell(c.strip()) for k, c in zip(keys, cells, strict=False) if k is not None and c.strip()}
        cell_problem = _cell_problem(values, names)
        yield Row(line, {} if cell_problem else values, names, cell_problem)


def _csv_records(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """A CSV file's records, each with the line it ends on."""
    text = decode(data)
    # strict: an unclosed quote is an error, not the rest of the file swallowed into one cell.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for cells in reader:
            yield reader.line_num, cells
    except csv.Error as exc:
        raise CsvFileError([RowError(max(reader.line_num, 1), "(file)", f"is not valid CSV: {exc}")]) from None


def _workbook_records(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """A workbook's first sheet's rows, each with its row number as Excel shows it."""
    try:
        yield from read_sheet(data)
    except WorkbookError as exc:
        raise CsvFileError([RowError(1, "(file)", str(exc))]) from None


def split_list(cell: str | None) -> list[str]:
    """Split a cell holding several values: `a;b`, `a、b`, `a/b`."""
    return [part.strip() for part in _LIST_SEPARATORS.split(cell or "") if part.strip()]


def parse_phones(row: Row, key: str, region: str, errors: list[RowError]) -> list[Phone]:
    """The register numbers in cell `key`, each once, in order; problems are added to `errors`."""
    phones: list[Phone] = []
    for raw in split_list(row.cells.get(key)):
        try:
            phone = parse_register_phone(raw, region)
        except InvalidPhoneNumber as exc:
            errors.append(row.error(key, f"{raw!r} {exc.reason}"))
            continue
        if phone.e164 not in (p.e164 for p in phones):
            phones.append(phone)
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
        errors.append(row.error(key, f"{raw!r} is not one of {_known(vocabulary, kind)}"))
    return value


def parse_values(row: Row, key: str, kind: str, vocabulary: Vocabulary, errors: list[RowError]) -> list[str]:
    """The value keys of a cell holding several values (独居老人、慢性病), sorted, without repeats."""
    found = set()
    for raw in split_list(row.cells.get(key)):
        value = vocabulary.value_key(kind, raw)
        if value is None:
            errors.append(row.error(key, f"{raw!r} is not one of {_known(vocabulary, kind)}"))
        else:
            found.add(value)
    return sorted(found)


def _cell_problem(values: dict[str, str], headers: dict[str, str]) -> str | None:
    """Cells no database column can hold: too long, or with control characters."""
    for key, value in values.items():
        limit = MAX_CELL.get(key, MAX_ANY_CELL)
        if len(value) > limit:
            return f"{headers.get(key, key)} is longer than {limit} characters"
        if CONTROL_CHARACTERS.search(value):
            return f"{headers.get(key, key)} contains control characters"
    return None


def _known(vocabulary: Vocabulary, kind: str) -> str:
    """The accepted values of `kind`, as an office would write them: 红、橙、黄、绿、无."""
    return "、".join(spellings[0] for spellings in vocabulary.values[kind].values())
