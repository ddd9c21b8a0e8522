"""Backup and restore of the whole database, on SQLite and PostgreSQL.

A backup is one file, written under a temporary name in the target's folder, flushed to disk and only then renamed
to its name: a crash leaves no half backup under that name (at most a `.<name>.*.partial` file beside it).

- SQLite: the online backup API copies the live database in one read transaction (writers carry on), into a
  self-contained file (rollback journal, not WAL). A restore copies the backup into a temporary file beside the
  database, migrates it to the code's schema, and renames it over the database; the service must be stopped, and a
  database still open elsewhere is refused.
- PostgreSQL: `pg_dump --format=custom` of one snapshot (`dispatch.backup_pg`), and a restore in one transaction.

A restore refuses a database that holds rows unless forced, and a backup made by a newer schema than the code's.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.request import pathname2url

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, func, inspect, select, table, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from dispatch.db import MIGRATIONS, make_engine, upgrade
from dispatch.exceptions import DispatchError

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
IN_USE_TIMEOUT = 2.0  # seconds to wait for the database's lock before saying it is in use


class BackupError(DispatchError):
    """A backup or restore that cannot be done; nothing was changed."""


@dataclass(frozen=True)
class BackupInfo:
    """What a backup file holds (or, after a restore, what the database now holds)."""

    path: Path
    size: int
    revision: str | None
    counts: dict[str, int]


@dataclass(frozen=True)
class Restored:
    backup_revision: str
    revision: str | None  # the database's after the migrations
    counts: dict[str, int]


def code_head() -> str:
    """The newest schema revision this code knows."""
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def check_revision(revision: str | None, source: Path) -> str:
    """The backup's revision, if this code can restore it: one of its own (older ones are migrated after)."""
    if revision is None:
        raise BackupError(f"{source} is not a hotline backup: it has no schema revision (alembic_version)")
    scripts = ScriptDirectory(str(MIGRATIONS))
    if revision not in {script.revision for script in scripts.walk_revisions()}:
        raise BackupError(
            f"{source} was made with schema revision {revision}, newer than this code's {code_head()} (or not "
            "the hotline's): restore it with the hotline version that made it"
        )
    return revision


def revision_of(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def table_counts(conn: Connection) -> dict[str, int]:
    """Rows in each table there is, alembic_version left out."""
    names = sorted(set(inspect(conn).get_table_names()) - {"alembic_version"})
    return {name: conn.execute(select(func.count()).select_from(table(name))).scalar_one() for name in names}


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("only a SQLite database in a file can be backed up or restored")
    return Path(database)


def describe(url: str) -> str:
    """The database's URL as it may be shown: without its password."""
    return make_url(url).render_as_string(hide_password=True)


# ── Files: a temporary name, fsync, rename ──────────────────────────────────────────────────────────────────


@contextlib.contextmanager
def partial_file(target: Path) -> Iterator[Path]:
    """A new, empty file beside `target`, readable by its owner only (a backup holds phone numbers and health
    details), removed on the way out unless it was renamed to `target`."""
    path = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.partial")
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def same_owner_and_mode(path: Path, like: Path) -> None:
    """Give the file that replaces `like` its mode, and (as root) its owner, so the hotline can still open it."""
    if not like.exists():
        return
    status = like.stat()
    os.chmod(path, status.st_mode & 0o777)
    if os.geteuid() == 0:
        os.chown(path, status.st_uid, status.st_gid)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(partial: Path, target: Path, *, overwrite: bool = False) -> None:
    """Make `partial` (complete, closed) appear under `target` atomically and durably."""
    fsync_file(partial)
    if not overwrite and target.exists():
        raise BackupError(f"{target} already exists; choose another name")
    os.replace(partial, target)
    fsync_file(target.parent)


def new_backup_path(target: Path) -> Path:
    target = target.expanduser().absolute()
    if target.exists():
        raise BackupError(f"{target} already exists; choose another name")
    if not target.parent.is_dir():
        raise BackupError(f"no folder {target.parent}")
    return target


def existing_backup(source: Path) -> tuple[Path, bytes]:
    source = source.expanduser().absolute()
    if not source.is_file():
        raise BackupError(f"no backup file {source}")
    with source.open("rb") as file:
        return source, file.read(16)


# ── Dispatch on the store ───────────────────────────────────────────────────────────────────────────────────


def backup(url: str, target: Path) -> BackupInfo:
    """Write a consistent backup of the database at `url` to the new file `target`, while the service runs."""
    target = new_backup_path(target)
    if is_sqlite(url):
        return _backup_sqlite(sqlite_path(url), target)
    from dispatch import backup_pg

    return backup_pg.backup(url, target)


def restore(url: str, source: Path, *, force: bool = False) -> Restored:
    """Replace the database at `url` with the backup `source`, then migrate it to the code's schema.

    Raises BackupError, and changes nothing, for a missing, corrupt or foreign file, a backup of a newer schema,
    a database holding rows (unless `force`), or (SQLite) a database still open elsewhere."""
    source, magic = existing_backup(source)
    if is_sqlite(url):
        if magic.startswith(PG_DUMP_MAGIC):
            raise BackupError(f"{source} is a PostgreSQL backup (pg_dump); this database is SQLite")
        return _restore_sqlite(sqlite_path(url), source, force=force)
    if magic.startswith(SQLITE_MAGIC):
        raise BackupError(f"{source} is a SQLite backup; this database is PostgreSQL")
    from dispatch import backup_pg

    return backup_pg.restore(url, source, force=force)


def refuse_if_not_empty(counts: dict[str, int], where: str) -> None:
    held = {name: rows for name, rows in counts.items() if rows}
    if held:
        listed = ", ".join(f"{name} {rows}" for name, rows in sorted(held.items(), key=lambda item: -item[1])[:5])
        raise BackupError(
            f"{where} already holds {sum(held.values())} rows ({listed}{', …' if len(held) > 5 else ''}); "
            "a restore replaces all of them: add --force to do so"
        )


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


def _backup_sqlite(database: Path, target: Path) -> BackupInfo:
    if not database.is_file():
        raise BackupError(f"no database at {database}")
    with partial_file(target) as partial:
        live = _open_existing(database)
        try:
            _copy_sqlite(live, partial)
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"cannot read the database {database}: {exc}") from None
        finally:
            live.close()
        revision, counts = _describe_file(partial)
        if revision is None:
            raise BackupError(f"{database} has no hotline schema: nothing to back up")
        publish(partial, target)
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


def _restore_sqlite(database: Path, source: Path, *, force: bool) -> Restored:
    backup_revision = _check_sqlite_backup(source)
    database = database.absolute()
    if database.exists() and not force:
        try:
            _, counts = _describe_file(database)
        except DBAPIError as exc:
            raise BackupError(f"cannot read the database {database} ({exc.orig}); add --force to replace it") from None
        refuse_if_not_empty(counts, f"the database {database}")
    database.parent.mkdir(parents=True, exist_ok=True)
    with partial_file(database) as partial:
        backup_conn = _open_existing(source, read_only=True)
        try:
            _copy_sqlite(backup_conn, partial)
        finally:
            backup_conn.close()
        engine = make_engine(f"sqlite:///{partial}", poolclass=NullPool)
        try:
            upgrade(engine)  # an older backup is brought to the code's schema before it replaces anything
            with engine.connect() as conn:
                revision, counts = revision_of(conn), table_counts(conn)
        finally:
            engine.dispose()
        _single_file(partial)
        same_owner_and_mode(partial, database)
        with _held_alone(database):
            publish(partial, database, overwrite=True)
            for leftover in ("-wal", "-shm", "-journal"):
                database.with_name(database.name + leftover).unlink(missing_ok=True)
    return Restored(backup_revision, revision, counts)


def _single_file(path: Path) -> None:
    """Leave a file we migrated as one self-contained file (its WAL folded in and gone)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()
