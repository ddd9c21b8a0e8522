"""Migrations build exactly the schema the models describe; SQLite runs in WAL mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from dispatch.db import make_engine, upgrade
from dispatch.models import Base
from tests.conftest import TEST_DATABASE_URL, reset_database


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


def test_the_register_migration_keeps_every_resident_and_their_liaison(tmp_path: Path) -> None:
    """0001 → 0002: each resident gets a household keeping their liaison; their number and tasks follow."""
    from sqlalchemy import select

    from dispatch.db import make_session_factory
    from dispatch.models import Resident, Task

    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    upgrade(engine, "0001")
    now = "2026-11-01 08:00:00"
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO liaisons (id, name, phone, active, created_at) VALUES (1, :n, :p, 1, :t)"),
            {"n": "张敏", "p": "+8613912345678", "t": now},
        )
        conn.execute(
            text(
                "INSERT INTO residents (id, name, phone, language, liaison_id, created_at)"
                " VALUES (:id, :n, :p, 'zh-CN', 1, :t)"
            ),
            [
                {"id": 1, "n": "梁阿姨", "p": "+8613800138000", "t": now},
                {"id": 2, "n": "王大爷", "p": "+8613800138001", "t": now},
                {"id": 3, "n": "陈奶奶", "p": "+8637166881234", "t": now},  # a landline
            ],
        )
        conn.execute(
            text(
                "INSERT INTO tasks (id, resident_id, category, status, description, created_at, updated_at)"
                " VALUES (1, 2, 'other', 'offered', :d, :t, :t)"
            ),
            {"d": "买菜", "t": now},
        )
    upgrade(engine)
    with make_session_factory(engine)() as session:
        residents = {r.name: r for r in session.scalars(select(Resident))}
        task = session.scalars(select(Task)).one()
        assert residents["梁阿姨"].phone == "+8613800138000" and residents["王大爷"].phone == "+8613800138001"
        assert residents["梁阿姨"].household_id != residents["王大爷"].household_id
        assert {r.liaison.name for r in residents.values() if r.liaison} == {"张敏"}
        assert task.household_id == residents["王大爷"].household_id
        assert residents["梁阿姨"].updated_at is not None
        assert residents["陈奶奶"].phones[0].landline and residents["陈奶奶"].channel == "voice"
        assert residents["梁阿姨"].channel == "sms"


def test_the_suite_runs_on_the_database_it_was_given(services: object) -> None:
    """With HOTLINE_TEST_DATABASE_URL set (scripts/with-postgres), the fixtures really use that database."""
    from hotline.services import Services

    assert isinstance(services, Services)
    assert services.engine.dialect.name == ("postgresql" if TEST_DATABASE_URL.startswith("postgresql") else "sqlite")


def test_several_processes_migrating_at_once_all_succeed_and_migrate_once(tmp_path: Path) -> None:
    """Several web processes start together, and each applies the migrations on start."""
    url = TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'hotline.sqlite3'}"
    if TEST_DATABASE_URL:
        engine = make_engine(url)
        reset_database(engine)
        engine.dispose()
    script = "import sys; from dispatch.db import make_engine, upgrade; upgrade(make_engine(sys.argv[1]))"
    runs = [subprocess.Popen([sys.executable, "-c", script, url], stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [run.communicate(timeout=120)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0, 0], errors
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        assert not compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()


def collected(*files: str, **environ: str) -> list[str]:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *files],
        env={**os.environ, **environ},
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return [line for line in run.stdout.splitlines() if "::" in line]


@pytest.mark.one_store
def test_the_postgresql_run_leaves_out_only_tests_that_never_reach_its_database(request: pytest.FixtureRequest) -> None:
    """Parsers and word tables (test_phones) do the same on any store, and Redis failing over (test_redis_sentinel,
    marked `one_store`) is about Redis; a test with `services` (test_intake) or reading the URL itself
    (test_backup) must run on PostgreSQL too. The SQLite side is this run's own collection when it holds the files."""
    files = ("tests/test_phones.py", "tests/test_intake.py", "tests/test_backup.py", "tests/test_redis_sentinel.py")
    on_sqlite = [item.nodeid for item in request.session.items if item.nodeid.startswith(files)]
    if TEST_DATABASE_URL or {nodeid.split("::")[0] for nodeid in on_sqlite} != set(files):
        on_sqlite = collected(*files, HOTLINE_TEST_DATABASE_URL="")
    on_postgresql = collected(*files, HOTLINE_TEST_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    left_out = ("tests/test_phones.py", "tests/test_redis_sentinel.py")
    assert all(any(test.startswith(file) for test in on_sqlite) for file in left_out)
    assert sorted(on_postgresql) == sorted(test for test in on_sqlite if not test.startswith(left_out))
