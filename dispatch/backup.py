"""Backup and restore of the whole database, on SQLite and PostgreSQL.

A backup is one file, written under a temporary name in the target's folder, flushed to disk and only then renamed
to its name: a crash leaves no half backup under that name (at most a `.<name>.*.partial` file beside it).

- SQLite: the online backup API copies the live database in one read transaction (writers carry on), into a
  self-contained file (rollback journal, not WAL). A restore copies the backup into a temporary file beside the
  database, migrates it to the code's schema, and renames it over the database; the service must be stopped, and a
  database still open elsewhere is refused.
- PostgreSQL: `pg_dump --format=custom` of one snapshot (`dispatch.backup_pg`), and a restore in one transaction.

What both share (errors, results, revision checks, writing a file safely) is in `dispatch.backup_common`.

A restore refuses a database that holds rows unless forced, and a backup made by a newer schema than the code's.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.request import pathname2url

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from dispatch import backup_pg
from dispatch.backup_common import (
    BackupError,
    BackupInfo,
    Restored,
    check_revision,
    existing_backup,
    new_backup_path,
    partial_file,
    publish,
    refuse_if_not_empty,
    revision_of,
    same_owner_and_mode,
    table_counts,
)
from dispatch.db import make_engine, upgrade
from dispatch.progress import QUIET, Progress

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
IN_USE_TIMEOUT = 2.0  # seconds to wait for the database's lock before saying it is in use


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("only a SQLite database in a file can be backed up or restored")
    return Path(database)


# ── Dispatch on the store ───────────────────────────────────────────────────────────────────────────────────


def backup(url: str, target: Path, progress: Progress = QUIET) -> BackupInfo:
    """Write a consistent backup of the database at `url` to the new file `target`, while the service runs.
    `progress` is told its steps (the stage "backup")."""
    target = new_backup_path(target)
    if is_sqlite(url):
        return _backup_sqlite(sqlite_path(url), target, progress)
    return backup_pg.backup(url, target, progress)


def restore(url: str, source: Path, *, force: bool = False, progress: Progress = QUIET) -> Restored:
    """Replace the database at `url` with the backup `source`, then migrate it to the code's schema.

    Raises BackupError, and changes nothing, for a missing, corrupt or foreign file, a backup of a newer schema,
    a database holding rows (unless `force`), or (SQLite) a database still open elsewhere. `progress` is told its
    steps (the stage "restore")."""
    source, magic = existing_backup(source)
    if is_sqlite(url):
        if magic.startswith(PG_DUMP_MAGIC):
            raise BackupError(f"{source} is a PostgreSQL backup (pg_dump); this database is SQLite")
        return _restore_sqlite(sqlite_path(url), source, force=force, progress=progress)
    if magic.startswith(SQLITE_MAGIC):
        raise BackupError(f"{source} is a SQLite backup; this database is PostgreSQL")
    return backup_pg.restore(url, source, force=force, progress=progress)


# ── SQLite ──────────────────────────────────────────────────────────────────────────────────────────────────


def _sqlite_engine(path: Path) -> Engine:
    """A plain engine on a file we hold alone; no pool, so nothing stays open after use."""
    return create_engine(f"sqlite:///{path}", poolclass=NullPool)


def _open_existing(path: Path, *, read_only: bool = False, timeout: float = 30.0) -> sqlite3.Connection:
    """A sqlite3 connection to a file that must exist (never creates one)."""
    mode = "ro" if read_only else "rw"
    return sqlite3.connect(f"file:{pathname2url(str(path))}?mode={mode}", uri=True, timeout=timeout)


def _describe_file(path: Path) -> tuple[str | None, dict[str, int]]:
    engine = _sqlite_engine(path)
    try:
        with engine.connect() as conn:
            return revision_of(conn), table_counts(conn)
    finally:
        engine.dispose()


def _copy_sqlite(source: sqlite3.Connection, destination: Path) -> None:
    """Copy a whole database with the online backup API (one step: one consistent read), into a file with a
    rollback journal, so the copy is one self-contained file."""
    copy = sqlite3.connect(destination)
    try:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()


def _backup_sqlite(database: Path, target: Path, progress: Progress) -> BackupInfo:
    if not database.is_file():
        raise BackupError(f"no database at {database}")
    progress.stage("backup", 3)
    with partial_file(target) as partial:
        live = _open_existing(database)
        try:
            _copy_sqlite(live, partial)
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"cannot read the database {database}: {exc}") from None
        finally:
            live.close()
        progress.advance()
        revision, counts = _describe_file(partial)
        if revision is None:
            raise BackupError(f"{database} has no hotline schema: nothing to back up")
        progress.advance()
        publish(partial, target)
        progress.advance()
    return BackupInfo(target, target.stat().st_size, revision, counts)


def _check_sqlite_backup(source: Path) -> str:
    """The revision of a sound SQLite backup; BackupError for anything else."""
    try:
        conn = _open_existing(source, read_only=True)
        try:
            problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise BackupError(f"{source} is damaged: {'; '.join(problems[:3])}")
            has_version = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
            ).fetchone()
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchone() if has_version else None
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{source} is not a usable SQLite backup: {exc}") from None
    return check_revision(revision[0] if revision else None, source)


@contextlib.contextmanager
def _held_alone(database: Path) -> Iterator[None]:
    """Hold the database's exclusive lock, after checking no one else has it open (WAL mode lets the switch to a
    rollback journal happen only then; it also folds the WAL in and removes it, so no stale WAL outlives the
    rename). Yields with the lock held; nothing is changed if the database is in use."""
    if not database.exists():
        yield
        return
    conn = _open_existing(database, timeout=IN_USE_TIMEOUT)
    conn.isolation_level = None
    try:
        try:
            mode = conn.execute("PRAGMA journal_mode=DELETE").fetchone()
            conn.execute("BEGIN EXCLUSIVE")
        except sqlite3.DatabaseError as exc:
            if exc.sqlite_errorname in ("SQLITE_BUSY", "SQLITE_LOCKED"):
                raise BackupError(
                    f"the database {database} is in use ({exc}): stop the hotline (run, serve, worker, scheduler) "
                    "before restoring"
                ) from None
            mode = ("delete",)  # a damaged file, whose replacement was forced: nothing in it to keep
        if mode is None or mode[0] != "delete":
            raise BackupError(f"the database {database} is in use: stop the hotline before restoring")
        yield
    finally:
        conn.close()


def _restore_sqlite(database: Path, source: Path, *, force: bool, progress: Progress) -> Restored:
    progress.stage("restore", 4)
    backup_revision = _check_sqlite_backup(source)
    database = database.absolute()
    if database.exists() and not force:
        try:
            _, counts = _describe_file(database)
        except DBAPIError as exc:
            raise BackupError(f"cannot read the database {database} ({exc.orig}); add --force to replace it") from None
        refuse_if_not_empty(counts, f"the database {database}")
    progress.advance()
    database.parent.mkdir(parents=True, exist_ok=True)
    with partial_file(database) as partial:
        backup_conn = _open_existing(source, read_only=True)
        try:
            _copy_sqlite(backup_conn, partial)
        finally:
            backup_conn.close()
        progress.advance()
        engine = make_engine(f"sqlite:///{partial}", poolclass=NullPool)
        try:
            upgrade(engine)  # an older backup is brought to the code's schema before it replaces anything
            with engine.connect() as conn:
                revision, counts = revision_of(conn), table_counts(conn)
        finally:
            engine.dispose()
        _single_file(partial)
        progress.advance()
        same_owner_and_mode(partial, database)
        with _held_alone(database):
            publish(partial, database, overwrite=True)
            for leftover in ("-wal", "-shm", "-journal"):
                database.with_name(database.name + leftover).unlink(missing_ok=True)
        progress.advance()
    return Restored(backup_revision, revision, counts)


def _single_file(path: Path) -> None:
    """Leave a file we migrated as one self-contained file (its WAL folded in and gone)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()
