"""Exporting the register in the format `csv_import` reads: CSV in UTF-8 with BOM for Excel, or an .xlsx workbook."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Literal

import phonenumbers
from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session, selectinload

from dispatch.models import Grid, Household, Liaison, Resident
from dispatch.phones import national_format
from dispatch.register.csv_read import Vocabulary, escape_cell
from dispatch.register.xlsx import write_sheet


def _phone_cell(phone: str | None, region: str) -> str:
    """A number as offices write it: national digits for numbers of `region`, E.164 for any other country."""
    if not phone:
        return ""
    number = phonenumbers.parse(phone, None)
    if phonenumbers.region_code_for_number(number) != region:
        return phone
    return "".join(ch for ch in national_format(phone) if ch.isdigit())


FileFormat = Literal["csv", "xlsx"]


def _write(header: list[str], rows: Iterable[list[str]], fmt: FileFormat, sheet: str) -> bytes:
    if fmt == "xlsx":
        return write_sheet(sheet, header, rows)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([escape_cell(cell) for cell in row] for row in rows)
    # UTF-8 with BOM: Excel then opens it as UTF-8, not in the system's code page.
    return buffer.getvalue().encode("utf-8-sig")


def export_residents(
    session: Session,
    vocabulary: Vocabulary,
    language: int = 0,
    region: str = "CN",
    *,
    where: ColumnElement[bool] | None = None,
    fmt: FileFormat = "csv",
) -> bytes:
    """The register of residents in the import format, as CSV or an .xlsx workbook (`fmt`). `language` 0 writes
    Chinese, 1 English. `where`, a filter on Household (a staff member's scope), narrows it; None exports
    everyone."""
    keys = list(vocabulary.tables["residents"])
    residents = session.scalars(
        select(Resident)
        .join(Household, Household.id == Resident.household_id)
        .where(true() if where is None else where)
        .options(
            selectinload(Resident.phones),
            selectinload(Resident.household).selectinload(Household.community),
            selectinload(Resident.household).selectinload(Household.grid),
            selectinload(Resident.household).selectinload(Household.primary_liaison),
            selectinload(Resident.household).selectinload(Household.backup_liaison),
        )
        .order_by(Resident.id)
    )

    def cells(resident: Resident) -> list[str]:
        household = resident.household
        primary, backup = household.primary_liaison, household.backup_liaison
        by_key = {
            "id": str(resident.id),
            "name": resident.name,
            "phones": ";".join(_phone_cell(p.phone, region) for p in resident.phones),
            "community": household.community.name if household.community else "",
            "building": household.building or "",
            "unit": household.unit or "",
            "room": household.room or "",
            "grid": household.grid.name if household.grid else "",
            "categories": ";".join(vocabulary.display("categories", c, language) for c in resident.categories),
            "language": vocabulary.display("language", resident.language, language),
            "channel": vocabulary.display("channel", resident.channel, language),
            "risk": vocabulary.display("risk", resident.risk, language),
            "emergency_contact_name": resident.emergency_contact_name or "",
            "emergency_contact_phone": _phone_cell(resident.emergency_contact_phone, region),
            "liaison_phone": _phone_cell(primary.phone if primary else None, region),
            "backup_liaison_phone": _phone_cell(backup.phone if backup else None, region),
            "status": vocabulary.display("status", resident.status, language),
            "notes": resident.notes,
        }
        return [by_key[key] for key in keys]

    header = [vocabulary.header("residents", k, language) for k in keys]
    return _write(header, (cells(r) for r in residents), fmt, vocabulary.sheet("residents", language))


def export_liaisons(
    session: Session, vocabulary: Vocabulary, language: int = 0, region: str = "CN", *, fmt: FileFormat = "csv"
) -> bytes:
    """Every liaison in the import format, as CSV or an .xlsx workbook (`fmt`)."""
    keys = list(vocabulary.tables["liaisons"])
    liaisons = session.scalars(
        select(Liaison).options(selectinload(Liaison.grid).selectinload(Grid.community)).order_by(Liaison.id)
    )

    def cells(liaison: Liaison) -> list[str]:
        by_key = {
            "id": str(liaison.id),
            "name": liaison.name,
            "phone": _phone_cell(liaison.phone, region),
            "community": liaison.grid.community.name if liaison.grid else "",
            "grid": liaison.grid.name if liaison.grid else "",
            "role": vocabulary.display("role", liaison.role, language),
            "active": vocabulary.display("active", "yes" if liaison.active else "no", language),
        }
        return [by_key[key] for key in keys]

    header = [vocabulary.header("liaisons", k, language) for k in keys]
    return _write(header, (cells(x) for x in liaisons), fmt, vocabulary.sheet("liaisons", language))


def count_residents(session: Session, where: ColumnElement[bool]) -> int:
    """How many residents the households `where` selects hold: what an export of that scope wrote."""
    return int(session.scalar(select(func.count()).select_from(Resident).join(Household).where(where)) or 0)
