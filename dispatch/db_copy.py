"""`hotline db copy --to URL`: the whole database into another one (a street office moving from SQLite to
PostgreSQL), checked by digests before anything is committed.

- The source is read in one snapshot (`db_digest.snapshot`): one read transaction, whose rows are both copied and
  digested. It must be at the code's schema head; the target is migrated to it first.
- The target must hold no rows in any of the hotline's tables; it is checked before it is migrated (a refused
  target is left as it was) and again inside the copy's transaction.
- Every table of the models, in foreign-key order (`metadata.sorted_tables`), streamed in key order a batch at a
  time and inserted a batch at a time (executemany), so memory stays flat however large the register.
- On PostgreSQL, each table's id sequence then starts after the largest id copied.
- Before the commit, the target is digested inside the same transaction and compared with the source's digests,
  table by table; any difference rolls the whole copy back. The target holds everything, or nothing.

The hotline must be stopped meanwhile: what arrives after the snapshot is taken would not be copied.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Integer, Table, func, inspect, select
from sqlalchemy.engine import Row, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from dispatch.backup_common import code_head, describe, revision_of
from dispatch.db import MIGRATIONS, READ_ONLY, engine_url, make_engine, upgrade
from dispatch.db_digest import Digests, combined_digest, snapshot, table_digests
from dispatch.exceptions import DispatchError
from dispatch.models import Base
from dispatch.progress import QUIET, Progress

BATCH = 5000  # rows read, and inserted, at a time
STORES = ("sqlite", "postgresql")


class CopyError(DispatchError):
    """A copy that cannot be made or did not match its source; the target holds none of it."""


@dataclass(frozen=True)
class Copied:
    source: str  # URLs without their passwords
    target: str
    revision: str
    counts: dict[str, int]  # rows per table, in the order copied
    digest: str  # combined_digest of both databases, which matched


def database_url(url: str, role: str) -> str:
    """`url` as the engine takes it: a SQLAlchemy URL of SQLite or PostgreSQL, `postgresql://` read as
    `postgresql+psycopg://`. The URL itself is never repeated in an error: it may hold a password."""
    try:
        parsed = make_url(engine_url(url))
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise CopyError(
            f"the {role} is not a database URL: give one such as sqlite:////path/hotline.sqlite3 or "
            "postgresql+psycopg://user@host/dbname"
        ) from None
    if parsed.get_backend_name() not in STORES:
        raise CopyError(f"the {role} must be a SQLite or PostgreSQL database, not {parsed.get_backend_name()!r}")
    if parsed.get_backend_name() == "sqlite" and (parsed.database or ":memory:") == ":memory:":
        raise CopyError(f"the {role} must be a SQLite database in a file (sqlite:////path/hotline.sqlite3)")
    return parsed.render_as_string(hide_password=False)


def first_line(exc: BaseException) -> str:
    """The first line of a driver's message: PostgreSQL puts the row's values in its DETAIL lines."""
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


@contextlib.contextmanager
def opened(url: str, role: str) -> Iterator[Engine]:
    """An engine on `url` (no pool: nothing stays open after the copy), once a connection has been made."""
    try:
        engine = make_engine(url, poolclass=NullPool)
    except (NoSuchModuleError, ImportError) as exc:
        raise CopyError(f"the {role} {describe(url)} needs a database driver this installation lacks: {exc}") from None
    except OSError as exc:  # SQLite: the file's folder cannot be made
        raise CopyError(f"cannot open the {role} {describe(url)}: {exc.strerror}: {exc.filename}") from None
    try:
        try:
            engine.connect().close()
        except SQLAlchemyError as exc:
            raise CopyError(f"cannot connect to the {role} {describe(url)}: {first_line(exc)}") from None
        yield engine
    finally:
        engine.dispose()


def identity(conn: Connection) -> tuple[object, ...]:
    """What tells two databases apart, however their URLs are spelled: the file (device and inode) for SQLite; the
    server's start time, the database's name and oid for PostgreSQL."""
    if conn.dialect.name == "sqlite":
        path = next(row[2] for row in conn.exec_driver_sql("PRAGMA database_list") if row[1] == "main")
        status = os.stat(path)
        return ("sqlite", status.st_dev, status.st_ino)
    found = conn.exec_driver_sql(
        "SELECT pg_postmaster_start_time(), current_database(), "
        "(SELECT oid FROM pg_database WHERE datname = current_database())"
    ).one()
    return ("postgresql", *found)


def source_revision(conn: Connection, url: str) -> str:
    revision = revision_of(conn)
    if revision == code_head():
        return revision
    found = f"is at schema revision {revision}" if revision else "has no hotline schema"
    if revision is not None and revision not in known_revisions():
        raise CopyError(
            f"the source database {describe(url)} {found}, newer than this version's {code_head()}: "
            "copy it with the hotline version that runs it"
        )
    raise CopyError(
        f"the source database {describe(url)} {found}, this version's is {code_head()}: "
        "run `hotline db upgrade` first, then copy"
    )


def known_revisions() -> set[str]:
    return {script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}


def rows_held(conn: Connection) -> dict[str, int]:
    """Rows in each of the hotline's tables the database has and that are not empty."""
    present = set(inspect(conn).get_table_names())
    counts = {
        table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
        for table in Base.metadata.sorted_tables
        if table.name in present
    }
    return {name: rows for name, rows in counts.items() if rows}


def refuse_if_occupied(conn: Connection, url: str) -> None:
    held = rows_held(conn)
    if held:
        listed = ", ".join(f"{name} {rows}" for name, rows in list(held.items())[:5])
        raise CopyError(
            f"the target {describe(url)} is not empty: table {next(iter(held))} holds rows ({listed}"
            f"{', …' if len(held) > 5 else ''}); copy only into an empty database. Nothing was written"
        )


def prepare_target(engine: Engine, url: str) -> None:
    """Refuse a target holding rows (before touching it), then bring it to the code's schema."""
    with engine.connect() as conn:
        refuse_if_occupied(conn, url)
    try:
        upgrade(engine)
    except Exception as exc:  # alembic raises its own errors as well as the driver's
        raise CopyError(
            f"cannot migrate the target {describe(url)} to schema {code_head()}: {first_line(exc)}"
        ) from None


def copy_rows(writer: Connection, table: Table, rows: Sequence[Row[tuple[object, ...]]]) -> None:
    """Insert one batch of a table's rows (one executemany), values as the source's types read them."""
    keys = [column.key for column in table.columns]
    writer.execute(table.insert(), [dict(zip(keys, row, strict=True)) for row in rows])


def copy_table(reader: Connection, writer: Connection, table: Table, batch: int, progress: Progress = QUIET) -> int:
    """Stream a table from the source in key order, `batch` rows at a time, into the target; the rows copied."""
    query = select(*table.columns).order_by(*table.primary_key.columns)
    copied = 0
    for rows in reader.execution_options(yield_per=batch).execute(query).partitions():
        try:
            copy_rows(writer, table, rows)
        except DBAPIError as exc:
            raise CopyError(f"the target refused a row of {table.name}: {first_line(exc)}") from None
        copied += len(rows)
        progress.advance(len(rows))
    return copied


def reset_sequences(writer: Connection, tables: Sequence[Table]) -> None:
    """On PostgreSQL, start each table's id sequence after its largest id, so new rows do not collide with
    copied ones. (setval is not undone by a rollback; after a refused copy the tables are empty, so new ids
    merely start higher.)"""
    if writer.dialect.name != "postgresql":
        return  # SQLite takes the next rowid after the largest
    for table in tables:
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or not isinstance(keys[0].type, Integer):
            continue
        column = keys[0]
        largest = select(func.max(column)).scalar_subquery()
        sequence = func.pg_get_serial_sequence(table.name, column.name)
        writer.execute(select(func.setval(sequence, func.coalesce(largest, 0) + 1, False)))


def differing(source: Digests, target: Digests) -> list[str]:
    return [name for name in sorted(set(source) | set(target)) if source.get(name) != target.get(name)]


def describe_difference(source: Digests, target: Digests, names: Sequence[str]) -> str:
    def rows(digests: Digests, name: str) -> str:
        return str(digests[name][0]) if name in digests else "missing"

    return ", ".join(f"{name} (rows {rows(source, name)} → {rows(target, name)})" for name in names)


def copy_database(
    source_url: str,
    target_url: str,
    *,
    batch: int | None = None,
    on_table: Callable[[str, int], None] | None = None,
    progress: Progress = QUIET,
) -> Copied:
    """Copy every row of the database at `source_url` into the empty database at `target_url`, in one target
    transaction that commits only if both databases then digest the same. Raises CopyError, with the target
    holding none of the copy, for anything else. `batch`: rows at a time (BATCH). `on_table(name, rows)` is told of
    each table as it is copied; `progress`, of the rows copied (the stage "tables_copied") and the tables digested
    ("digests")."""
    source_url = database_url(source_url, "source (DATABASE_URL)")
    target_url = database_url(target_url, "target (--to)")
    with opened(source_url, "source database") as source, opened(target_url, "target database") as target:
        try:
            _refuse_unsafe(source, target, source_url, target_url)
            prepare_target(target, target_url)
            counts, digests = _copy(source, target, source_url, target_url, batch or BATCH, on_table, progress)
        except DBAPIError as exc:  # a database that cannot be read, say; the target's transaction rolled back
            raise CopyError(f"the copy failed: {first_line(exc)}; nothing of it was committed") from None
    return Copied(describe(source_url), describe(target_url), code_head(), counts, combined_digest(digests))


def _refuse_unsafe(source: Engine, target: Engine, source_url: str, target_url: str) -> None:
    """A source behind the code's schema, or a target that is the source itself: refused before anything."""
    with source.connect() as conn:
        conn = conn.execution_options(**{READ_ONLY: True})  # SQLite: no write lock on the source, ever
        source_revision(conn, source_url)
        source_id = identity(conn)
    with target.connect() as conn:
        if identity(conn) == source_id:
            raise CopyError(f"the target {describe(target_url)} is the source database itself: give another database")


def _copy(
    source: Engine,
    target: Engine,
    source_url: str,
    target_url: str,
    batch: int,
    on_table: Callable[[str, int], None] | None,
    progress: Progress,
) -> tuple[dict[str, int], Digests]:
    tables = Base.metadata.sorted_tables
    with snapshot(source) as reader, target.begin() as writer:
        source_revision(reader, source_url)  # in the snapshot copied, too
        refuse_if_occupied(writer, target_url)  # and nobody filled the target meanwhile
        counts = {}
        progress.stage("tables_copied", None if progress is QUIET else sum(rows_held(reader).values()))
        for table in tables:
            counts[table.name] = copy_table(reader, writer, table, batch, progress)
            if on_table is not None:
                on_table(table.name, counts[table.name])
        reset_sequences(writer, tables)
        progress.stage("digests", 2)
        expected = table_digests(reader)
        progress.advance()
        found = table_digests(writer)
        progress.advance()
        names = differing(expected, found)
        if names:  # raising here rolls the target's transaction back
            raise CopyError(
                f"the copy does not match the source in {len(names)} table(s): "
                f"{describe_difference(expected, found, names)}; it was rolled back, the target holds none of it"
            )
    return counts, found
