"""The register as an Excel workbook (.xlsx): its first sheet read as rows of text, and rows written as one.

Offices keep their 花名册 in Excel; a workbook saves them the "save as CSV" step and its choice of encoding. The
rows go through the same checks as a CSV's (`csv_read`), numbered as Excel numbers them. Every cell is written
as text, so a number keeps its leading zeros and a cell that looks like a formula stays words.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time
from typing import TYPE_CHECKING
from xml.etree.ElementTree import ParseError

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils.exceptions import InvalidFileException

if TYPE_CHECKING:
    from openpyxl.cell.cell import Cell
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

ZIP_MAGIC = b"PK\x03\x04"
# A workbook is a zip of XML. An upload of a few MB that unpacks to gigabytes would take the worker's memory,
# so the sizes the zip declares are checked before anything is unpacked. A 100,000-row register is about 30 MB.
MAX_UNPACKED = 200 * 1024 * 1024
MAX_RATIO = 200  # unpacked to packed; XML of a real register packs about 10:1


class WorkbookError(Exception):
    """The file is a zip but not a workbook we can read, or would unpack to far more than a register."""


def is_xlsx(data: bytes) -> bool:
    """Whether the bytes are a zip file, which is what an .xlsx is (a CSV never starts so)."""
    return data.startswith(ZIP_MAGIC)


def read_sheet(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """The first sheet's rows as (row number, cells as text), empty rows left out.

    Raises:
        WorkbookError: not a readable workbook, or too large unpacked.
    """
    _check_sizes(data)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise WorkbookError(f"is not a workbook Excel saved ({type(exc).__name__})") from None
    try:
        sheet = book.worksheets[0] if book.worksheets else None
        if sheet is None:
            raise WorkbookError("has no sheet")
        sheet.reset_dimensions()  # read every row there is, not only those a stale <dimension> claims
        # The sheet's XML is read as the rows are: damage shows here, not when the workbook opened.
        rows = enumerate(sheet.iter_rows(values_only=True), start=1)
        while True:
            try:
                number, values = next(rows)
            except StopIteration:
                return
            except (ParseError, IndexError, ValueError, KeyError, TypeError, zipfile.BadZipFile, OSError) as exc:
                raise WorkbookError(f"is damaged: its sheet cannot be read ({type(exc).__name__})") from None
            cells = [_text(value) for value in values]
            while cells and not cells[-1]:
                cells.pop()
            if cells:
                yield number, cells
    finally:
        book.close()


def write_sheet(title: str, header: list[str], rows: Iterable[list[str]]) -> bytes:
    """One sheet named `title`: the header row, then the rows, every cell a text cell."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title)
    sheet.append([_text_cell(sheet, cell) for cell in header])
    for row in rows:
        sheet.append([_text_cell(sheet, cell) for cell in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _check_sizes(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile:
        raise WorkbookError("is not a workbook Excel saved (not a whole zip file)") from None
    unpacked = sum(member.file_size for member in members)
    packed = sum(member.compress_size for member in members) or 1
    if unpacked > MAX_UNPACKED or unpacked > MAX_RATIO * max(packed, 1024 * 1024):
        raise WorkbookError(f"would unpack to {unpacked // (1024 * 1024)} MB, far more than a register")


def _text(value: object) -> str:
    """A cell's value as an office typed it: 13800138000 stored as a number is those digits, a date its ISO day."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _text_cell(sheet: WriteOnlyWorksheet, text: str) -> Cell:
    # A control character no workbook may hold (a register edited before they were refused) is left out, rather
    # than the whole export failing on one cell.
    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", text))
    cell.data_type = "s"  # text, even when it starts with "=": a workbook we write holds no formula
    return cell
