"""The register (底册): residents, households, liaisons, grids; CSV import and export; coverage rules."""

from dispatch.register.coverage import (
    DEFAULT_MAX_LOAD,
    CoverageReport,
    Deactivation,
    coverage_report,
    deactivate_liaison,
    describe_address,
)
from dispatch.register.csv_export import export_liaisons, export_residents
from dispatch.register.csv_import import ImportReport, import_residents
from dispatch.register.csv_liaisons import import_liaisons
from dispatch.register.csv_read import RowError, Vocabulary
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

__all__ = [
    "DEFAULT_MAX_LOAD",
    "Address",
    "CoverageReport",
    "Deactivation",
    "ImportReport",
    "RowError",
    "SenderMatch",
    "Vocabulary",
    "add_liaison",
    "add_resident",
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
    "sole_community",
]
