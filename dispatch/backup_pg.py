"""PostgreSQL backups: `pg_dump --format=custom` of one snapshot, and a restore in one transaction.

The URL's credentials reach pg_dump, pg_restore and psql through libpq's environment (PGPASSWORD, PGHOST, …),
never on a command line, which other users of the machine can read, nor in any message.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import IO

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from dispatch.backup_common import (
    BackupError,
    BackupInfo,
    Restored,
    check_revision,
    describe,
    partial_file,
    publish,
    refuse_if_not_empty,
    revision_of,
    table_counts,
)
from dispatch.db import make_engine, upgrade
from dispatch.db_digest import hotline_tables, snapshot
from dispatch.progress import QUIET, Progress

# URL parts and libpq connection parameters (as query parameters) → libpq's environment variables.
LIBPQ_ENV = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "sslmode": "PGSSLMODE",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcrl": "PGSSLCRL",
    "sslsni": "PGSSLSNI",
    "requiressl": "PGREQUIRESSL",
    "gssencmode": "PGGSSENCMODE",
    "channel_binding": "PGCHANNELBINDING",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "krbsrvname": "PGKRBSRVNAME",
    "client_encoding": "PGCLIENTENCODING",
}


def libpq_environment(url: str) -> dict[str, str]:
    """This process's environment, with the URL's connection details as libpq variables."""
    parsed = make_url(url)
    parts: dict[str, object] = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": parsed.database,
    }
    for key, value in parsed.query.items():
        if key not in LIBPQ_ENV:
            raise BackupError(f"DATABASE_URL parameter {key!r} cannot be handed to pg_dump; leave it out")
        parts[key] = ",".join(value) if isinstance(value, tuple) else value
    environ = dict(os.environ)
    environ.update({LIBPQ_ENV[key]: str(value) for key, value in parts.items() if value not in (None, "")})
    return environ


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} not found: install PostgreSQL's client programs (Debian: postgresql-client), of the server's "
            "major version or newer"
        )
    return found


def last_lines(text_: str, count: int = 3) -> str:
    lines = [line.strip() for line in text_.strip().splitlines() if line.strip()]
    return " / ".join(lines[-count:]) or "no message"


def run(argv: list[str], environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=environ, capture_output=True, text=True, check=False)  # noqa: S603  # our argv


def _engine(url: str) -> Engine:
    return make_engine(url, poolclass=NullPool)


# ── Backup ──────────────────────────────────────────────────────────────────────────────────────────────────


def backup(url: str, target: Path, progress: Progress = QUIET) -> BackupInfo:
    """pg_dump of one exported snapshot; the revision and row counts come from that same snapshot."""
    pg_dump = tool("pg_dump")
    progress.stage("backup", 3)
    environ = libpq_environment(url)
    engine = _engine(url)
    try:
        with snapshot(engine) as conn:
            snapshot_id = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            revision, counts = revision_of(conn), table_counts(conn)
            if revision is None:
                raise BackupError(f"the database {describe(url)} has no hotline schema: nothing to back up")
            progress.advance()
            with partial_file(target) as partial:
                argv = [pg_dump, "--format=custom", "--no-password", f"--snapshot={snapshot_id}", f"--file={partial}"]
                done = run(argv, environ)
                if done.returncode != 0:
                    raise BackupError(f"pg_dump failed: {last_lines(done.stderr)}")
                progress.advance()
                publish(partial, target)
                progress.advance()
    finally:
        engine.dispose()
    return BackupInfo(target, target.stat().st_size, revision, counts)


# ── Restore ─────────────────────────────────────────────────────────────────────────────────────────────────


def dump_revision(pg_restore: str, source: Path) -> str | None:
    """The row of alembic_version in a pg_dump archive, read without a database."""
    done = run([pg_restore, "--data-only", "--table=alembic_version", "--file=-", str(source)])
    if done.returncode != 0:
        raise BackupError(f"{source} is not a usable pg_dump backup: {last_lines(done.stderr)}")
    lines = done.stdout.splitlines()
    for number, line in enumerate(lines[:-1]):
        if line.startswith("COPY ") and "alembic_version" in line:
            return None if lines[number + 1] == "\\." else lines[number + 1]
    return None


def restore(url: str, source: Path, *, force: bool, progress: Progress = QUIET) -> Restored:
    pg_restore, psql = tool("pg_restore"), tool("psql")
    progress.stage("restore", 4)
    environ = libpq_environment(url)
    listed = run([pg_restore, "--list", str(source)])
    if listed.returncode != 0:
        raise BackupError(f"{source} is not a usable pg_dump backup: {last_lines(listed.stderr)}")
    backup_revision = check_revision(dump_revision(pg_restore, source), source)
    progress.advance()
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            counts = table_counts(conn)
            schema = inspect(conn).default_schema_name
            quote = conn.dialect.identifier_preparer.quote
        if not force:
            refuse_if_not_empty(counts, f"the database {describe(url)}")
        # The hotline's tables there now go first, whatever the backup's revision: a table a newer migration made
        # and that points at the backup's tables would otherwise stop pg_restore's own DROPs.
        known = {table.name for table in hotline_tables()}
        drops = [f"{quote(schema or 'public')}.{quote(name)}" for name in sorted(known & {*counts, "alembic_version"})]
        progress.advance()
        _restore_in_one_transaction(pg_restore, psql, source, environ, drops)
        progress.advance()
        upgrade(engine)  # an older backup is brought to the code's schema
        with engine.connect() as conn:
            restored = Restored(backup_revision, revision_of(conn), table_counts(conn))
        progress.advance()
        return restored
    finally:
        engine.dispose()


def _restore_in_one_transaction(
    pg_restore: str, psql: str, source: Path, environ: dict[str, str], drops: list[str]
) -> None:
    """pg_restore --clean --if-exists writes the archive as SQL; psql runs it inside one transaction that is
    committed only once pg_restore has read the whole archive without error. Any error on either side, or a
    damaged archive found halfway, ends psql's session before COMMIT: PostgreSQL rolls everything back."""
    preamble = "SET client_min_messages = warning;\nBEGIN;\n" + "".join(
        f"DROP TABLE IF EXISTS {name} CASCADE;\n" for name in drops
    )
    with tempfile.TemporaryFile() as restore_errors, tempfile.TemporaryFile() as psql_errors:
        runner = subprocess.Popen(  # noqa: S603  # our own argv
            [psql, "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "-f", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=psql_errors,
            env=environ,
        )
        reader = subprocess.Popen(  # noqa: S603  # our own argv
            [pg_restore, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--file=-", str(source)],
            stdout=subprocess.PIPE,
            stderr=restore_errors,
        )
        assert runner.stdin is not None and reader.stdout is not None
        committed = False
        try:
            runner.stdin.write(preamble.encode())
            shutil.copyfileobj(reader.stdout, runner.stdin, 1 << 20)
            if reader.wait() == 0:
                runner.stdin.write(b"COMMIT;\n")
                runner.stdin.close()
                committed = runner.wait() == 0
        except BrokenPipeError:  # psql stopped at an error
            pass
        finally:
            for process in (reader, runner):
                if process.poll() is None:
                    process.kill()  # psql's session ends without COMMIT: nothing it did stays
                process.wait()
            reader.stdout.close()
            if runner.stdin and not runner.stdin.closed:
                with contextlib.suppress(BrokenPipeError):
                    runner.stdin.close()
        if not committed:
            detail = last_lines(_read(psql_errors) + "\n" + _read(restore_errors))
            raise BackupError(f"restore failed, the database is unchanged: {detail}")


def _read(file: IO[bytes]) -> str:
    file.seek(0)
    return file.read().decode(errors="replace")
