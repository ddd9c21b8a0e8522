"""What backups of both stores share: the errors and results, the schema revision a backup holds and whether this
code can restore it, and writing a file under a temporary name, flushed to disk, then renamed.

`dispatch.backup` (SQLite, and the choice of store) and `dispatch.backup_pg` (PostgreSQL) build on it.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, inspect, select, table, text
from sqlalchemy.engine import make_url

from dispatch.db import MIGRATIONS
from dispatch.exceptions import DispatchError


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


def refuse_if_not_empty(counts: dict[str, int], where: str) -> None:
    held = {name: rows for name, rows in counts.items() if rows}
    if held:
        listed = ", ".join(f"{name} {rows}" for name, rows in sorted(held.items(), key=lambda item: -item[1])[:5])
        raise BackupError(
            f"{where} already holds {sum(held.values())} rows ({listed}{', …' if len(held) > 5 else ''}); "
            "a restore replaces all of them: add --force to do so"
        )
