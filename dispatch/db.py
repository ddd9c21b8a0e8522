"""Engines, sessions and migrations. The same code runs on SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
READ_ONLY = "hotline_read_only"  # execution option: begin a plain (deferred) transaction on SQLite
POSTGRESQL_ALIASES = ("postgresql", "postgres")  # naming no driver: psycopg 3, the one `[postgresql]` installs


def engine_url(url: str) -> str:
    """`url` as the engine takes it: `postgresql://` or `postgres://` read as `postgresql+psycopg://`.

    Raises:
        sqlalchemy.exc.ArgumentError, ValueError: `url` is not a SQLAlchemy URL (a bad port, say).
    """
    parsed = make_url(url)
    if parsed.drivername in POSTGRESQL_ALIASES:
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def make_engine(url: str, *, sqlite_busy_timeout: float = 30.0, **kwargs: Any) -> Engine:
    """Build an engine for `url`, tuned for a web server and workers sharing one database.

    Statement parameters are hidden from error messages: they hold phone numbers and message bodies, and
    error messages end up in logs.

    On SQLite: WAL mode, foreign keys on, a busy timeout, and `BEGIN IMMEDIATE` for sessions that write, so two
    workers handling the same message queue up for the write lock instead of failing with SQLITE_BUSY halfway
    through. Read-only sessions (`make_read_session_factory`) begin deferred and never block a writer.
    The parent directory of the file is created.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, hide_parameters=True, **kwargs)

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": sqlite_busy_timeout}, hide_parameters=True, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for work that writes. They keep loaded objects usable after commit, for building replies."""
    return sessionmaker(engine, expire_on_commit=False)


def make_read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for work that only reads (lists, health checks, the sweeper's scan): on SQLite they take no
    write lock, so they never hold up a webhook."""
    return sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)


def alembic_config(engine: Engine) -> AlembicConfig:
    """An Alembic config that runs our migrations on `engine`, with no alembic.ini needed."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision` (all of them by default). Safe to run on every start."""
    command.upgrade(alembic_config(engine), revision)


def insert_skipping_duplicates(session: Session, model: type[Any]) -> Any:
    """An INSERT for `model` that skips rows whose unique key already exists (ON CONFLICT DO NOTHING), on
    SQLite and PostgreSQL alike: two schedulers making the same rows at once both succeed, and one row stays."""
    from sqlalchemy.dialects import postgresql, sqlite

    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing()
    return sqlite.insert(model).on_conflict_do_nothing()


def serialise(session: Session, name: str) -> None:
    """Hold a lock called `name` until the transaction ends, so two requests doing the same thing at once (a
    double submit) run one after the other and the second finds what the first wrote: a PostgreSQL advisory
    transaction lock. SQLite's write transactions are serialised already (BEGIN IMMEDIATE)."""
    if session.get_bind().dialect.name == "postgresql":
        number = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        session.execute(select(func.pg_advisory_xact_lock(number)))
