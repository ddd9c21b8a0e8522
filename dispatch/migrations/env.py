"""Alembic environment: runs migrations on the engine handed over in `config.attributes`."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator

from alembic import context
from sqlalchemy import Engine, text

from dispatch.db import make_engine
from dispatch.models import Base

config = context.config
MIGRATION_LOCK = 0x686F746C696E65  # "hotline": the advisory lock every migrating process takes on PostgreSQL
engine = config.attributes.get("engine") or make_engine(config.get_main_option("sqlalchemy.url") or "")


@contextlib.contextmanager
def one_migrator_at_a_time(engine: Engine) -> Iterator[None]:
    """On a SQLite file, hold an exclusive lock on `<file>-migrate.lock` for the whole run.

    Alembic runs SQLite's migrations outside one transaction (its DDL is not transactional there), so BEGIN
    IMMEDIATE alone cannot stop a second process from reading the version between two steps of the first one and
    then applying a step again ("duplicate column"). PostgreSQL takes an advisory lock instead (below).
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    with open(f"{database}-migrate.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


with one_migrator_at_a_time(engine), engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode rebuilds a table by copy, drop and rename, which SQLite refuses while other tables' rows
        # point at it. The pragma only takes effect outside a transaction, so set it on the raw connection.
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            # SQLite cannot ALTER most things in place; batch mode copies the table. Harmless elsewhere.
            render_as_batch=True,
            compare_type=True,
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Several web processes start at once and each migrates: one at a time, and the others then find
                # the schema at head. (SQLite's BEGIN IMMEDIATE already lets one writer in at a time.)
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            context.run_migrations()
            if sqlite:
                broken = connection.execute(text("PRAGMA foreign_key_check")).all()
                if broken:
                    raise RuntimeError(f"migration left {len(broken)} rows pointing nowhere: {broken[:5]}")
        connection.commit()
    finally:
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
