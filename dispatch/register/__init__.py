"""The register (底册): residents, households, liaisons, grids; CSV import and export; coverage rules."""

from dispatch.register.coverage import (
    DEFAULT_MAX_LOAD,
    CoverageReport,
    Deactivation,
    coverage_report,
    deactivate_liaison,
    describe_address,
)
from dispatch.register.csv_export import FileFormat, export_liaisons, export_residents
from dispatch.register.csv_import import ImportReport, import_residents
from dispatch.register.csv_liaisons import import_liaisons
from dispatch.register.csv_read import RowError, Vocabulary
from dispatch.register.edit import EditRefused, FieldProblem, update_plan, update_resident
from dispatch.register.history import ResidentHistory, resident_history
from dispatch.register.household_liaisons import assignable_liaisons, set_liaisons
from dispatch.register.people import (
    Address,
    SenderMatch,
    add_liaison,
    add_resident,
    find_liaison_by_phone,
    find_or_create_community,
    find_or_create_grid,
    find_or_create_household,
    find_residents_by_phone,
    households_served_by,
    liaison_by_phone_or_fail,
    list_liaisons,
    list_residents,
    match_sender,
    sole_community,
)
from dispatch.register.search import ResidentRow, search_residents, standings_today

__all__ = [
    "DEFAULT_MAX_LOAD",
    "Address",
    "CoverageReport",
    "Deactivation",
    "EditRefused",
    "FieldProblem",
    "FileFormat",
    "ImportReport",
    "ResidentHistory",
    "ResidentRow",
    "RowError",
    "SenderMatch",
    "Vocabulary",
    "add_liaison",
    "add_resident",
    "assignable_liaisons",
    "coverage_report",
    "deactivate_liaison",
    "describe_address",
    "export_liaisons",
    "export_residents",
    "find_liaison_by_phone",
    "find_or_create_community",
    "find_or_create_grid",
    "find_or_create_household",
    "find_residents_by_phone",
    "households_served_by",
    "import_liaisons",
    "import_residents",
    "liaison_by_phone_or_fail",
    "list_liaisons",
    "list_residents",
    "match_sender",
    "resident_history",
    "search_residents",
    "set_liaisons",
    "sole_community",
    "standings_today",
    "update_plan",
    "update_resident",
]
