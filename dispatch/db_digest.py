"""What a database holds, as one checksum per table that reads the same on SQLite and PostgreSQL.

`table_digests(engine)` reads every table the hotline keeps (the models' tables and `alembic_version`), in one
snapshot (or through a connection's open transaction), each in primary-key order, and hashes its rows after
normalizing each value: times to ISO 8601 in UTC with microseconds, dates to ISO, booleans as JSON booleans, floats
and decimals as the shortest exact decimal ("37.25", "37"), JSON documents with sorted keys, NULL as null. The same
data therefore gives the same digest on either store, which checks a backup and restore, and a copy from one store
to the other (`dispatch.db_copy`, which digests the target inside its own transaction, before committing).
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Connection, Engine, Float, MetaData, Numeric, String, Table, inspect, select
from sqlalchemy.sql.elements import ColumnElement

from dispatch.db import READ_ONLY
from dispatch.models import Base

# Alembic's own table, described here so it is digested like the rest.
ALEMBIC_VERSION = Table("alembic_version", MetaData(), Column("version_num", String(32), primary_key=True))

Digests = dict[str, tuple[int, str]]


def hotline_tables() -> list[Table]:
    """Every table the hotline keeps, by name."""
    return sorted([*Base.metadata.sorted_tables, ALEMBIC_VERSION], key=lambda table: table.name)


@contextlib.contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only connection whose transaction sees one moment of the database while writers carry on:
    REPEATABLE READ on PostgreSQL, a deferred read transaction on SQLite (in WAL mode, a reader's snapshot)."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        else:
            conn = conn.execution_options(**{READ_ONLY: True})
        with conn.begin():
            yield conn


def decimal_text(number: float | int | Decimal) -> str:
    """The shortest exact decimal: 37.25 → "37.25", 37.0 and Decimal("37.00") → "37", 1e-7 → "0.0000001"."""
    exact = Decimal(repr(number)) if isinstance(number, float) else Decimal(number)
    if not exact.is_finite():
        return str(exact)
    text = format(exact.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def canonical(value: Any, *, numeric: bool = False) -> Any:
    """One stored value as a JSON value that does not depend on the store that held it.

    `numeric`: the column is a Float or Numeric, so 37 and 37.0 are the same number there."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return canonical(value.value, numeric=numeric)
    if isinstance(value, float | Decimal) or (numeric and isinstance(value, int)):
        return decimal_text(value)
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # SQLite forgets the zone
        return aware.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(key): canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    raise TypeError(f"cannot digest a value of type {type(value).__name__}")


def _line(values: Iterable[Any]) -> bytes:
    return json.dumps(list(values), ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def _key_order(conn: Connection, table: Table) -> list[ColumnElement[Any]]:
    """The primary key's columns; text compared by code point on both stores (SQLite's BINARY; "C" here)."""
    postgresql = conn.dialect.name == "postgresql"
    return [
        column.collate("C") if postgresql and isinstance(column.type, String) else column
        for column in table.primary_key.columns
    ]


def table_digest(conn: Connection, table: Table) -> tuple[int, str]:
    """(rows, SHA-256) of one table: its name and columns, then each row, in primary-key order."""
    numeric = [isinstance(column.type, Float | Numeric) for column in table.columns]
    digest = hashlib.sha256(_line([table.name, [column.name for column in table.columns]]))
    query = select(table)
    order = _key_order(conn, table)
    rows = 0
    if order:
        result = conn.execution_options(yield_per=2000).execute(query.order_by(*order))
        for row in result:
            digest.update(_line(canonical(value, numeric=n) for value, n in zip(row, numeric, strict=True)))
            rows += 1
    else:  # no key: the rows as a sorted multiset
        lines = sorted(
            _line(canonical(value, numeric=n) for value, n in zip(row, numeric, strict=True))
            for row in conn.execute(query)
        )
        for line in lines:
            digest.update(line)
        rows = len(lines)
    return rows, digest.hexdigest()


def table_digests(bind: Engine | Connection, tables: Sequence[Table] | None = None) -> Digests:
    """{table name: (rows, SHA-256 of its rows)} for each table the hotline keeps (or of `tables`) that the
    database has, read in one snapshot while the service runs. A table the database lacks has no entry, so two
    databases compared by their digests differ there too. Each table must have the models' columns: bring the
    database to the code's schema first.

    Given a Connection rather than an Engine, it reads through that connection's transaction as it stands (a
    snapshot the caller opened, or a transaction that has written and not yet committed: what a commit would
    keep), and leaves it open."""
    if isinstance(bind, Connection):
        return _digests(bind, tables)
    with snapshot(bind) as conn:
        return _digests(conn, tables)


def _digests(conn: Connection, tables: Sequence[Table] | None) -> Digests:
    present = set(inspect(conn).get_table_names())
    return {table.name: table_digest(conn, table) for table in (tables or hotline_tables()) if table.name in present}


def combined_digest(digests: Mapping[str, tuple[int, str]]) -> str:
    """One SHA-256 over every table's rows and digest, to compare two databases at a glance."""
    lines = "".join(f"{name}\t{rows}\t{sha}\n" for name, (rows, sha) in sorted(digests.items()))
    return hashlib.sha256(lines.encode()).hexdigest()
