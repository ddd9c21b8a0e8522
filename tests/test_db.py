"""Migrations build exactly the schema the models describe; SQLite runs in WAL mode."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from dispatch.db import make_engine, upgrade
from dispatch.models import Base


def test_migrations_match_the_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    upgrade(engine)
    upgrade(engine)  # a second run, as on every start, is a no-op
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    assert "inbound_messages" in inspect(engine).get_table_names()


def test_sqlite_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'db.sqlite3'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_database_errors_never_carry_phone_numbers(tmp_path: Path) -> None:
    """Error messages reach logs; the numbers and texts bound into a statement must not."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    from dispatch.db import make_session_factory
    from dispatch.models import Liaison

    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    upgrade(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        session.add(Liaison(name="张敏", phone="+8613912345678"))
    with pytest.raises(IntegrityError) as caught, sessions.begin() as session:
        session.add(Liaison(name="张敏", phone="+8613912345678"))
    assert "13912345678" not in str(caught.value)


def test_a_read_session_does_not_block_a_writer(tmp_path: Path) -> None:
    from dispatch.db import make_read_session_factory, make_session_factory
    from dispatch.models import Liaison

    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}", sqlite_busy_timeout=0.2)
    upgrade(engine)
    with make_read_session_factory(engine)() as reader:
        assert reader.query(Liaison).count() == 0  # a transaction is open
        with make_session_factory(engine).begin() as writer:  # would fail with "database is locked" if blocked
            writer.add(Liaison(name="张敏", phone="+8613912345678"))
