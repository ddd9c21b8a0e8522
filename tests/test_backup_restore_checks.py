"""`hotline db restore` on the store under test: bad files, full databases, newer schemas and bad targets are refused
with nothing changed; an older backup is migrated; on SQLite, an open database is refused and a damaged one replaced
only with --force."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, inspect, text

from dispatch.backup_common import code_head
from dispatch.db import upgrade
from dispatch.db_digest import table_digests
from dispatch.models import AuditEntry
from hotline.services import Services
from hotline.settings import Settings
from tests.backup_helpers import POSTGRES, cli, restore
from tests.conftest import reset_database


@pytest.fixture
def runner(environ: dict[str, str], services: Services) -> CliRunner:
    return CliRunner(env=environ)


def schema_of(engine: Engine) -> list[tuple[str, object, list[str], int]]:
    """Each table's key, indexes and foreign keys: what a half-done restore would leave out."""
    found = inspect(engine)
    return [
        (
            name,
            found.get_pk_constraint(name)["name"],
            sorted(str(ix["name"]) for ix in found.get_indexes(name)),
            len(found.get_foreign_keys(name)),
        )
        for name in sorted(found.get_table_names())
    ]


def test_a_damaged_or_foreign_file_is_refused_and_nothing_changes(
    runner: CliRunner, services: Services, town: object, tmp_path: Path
) -> None:
    with services.engine.begin() as conn:  # enough rows that a cut can fall inside the data, not only the catalog
        conn.execute(
            AuditEntry.__table__.insert(),
            [
                {
                    "at": datetime(2030, 3, 4, tzinfo=UTC),
                    "actor": "cli",
                    "actor_name": "command line",
                    "action": "view",
                    "object_kind": "resident",
                    "object_id": n,
                    "detail": f"entry {n}",
                }
                for n in range(4000)
            ],
        )
    good = tmp_path / "good.backup"
    assert cli(runner, "backup", str(good)).exit_code == 0
    with services.sessions.begin() as session:  # so that a restore, had it happened, would show
        session.execute(text("UPDATE residents SET name = name || '*'"))
    before = table_digests(services.engine), schema_of(services.engine)
    data = good.read_bytes()
    bad = {
        "garbage": b"not a backup at all\n" * 50,
        **{f"cut at {p}%": data[: len(data) * p // 100] for p in (5, 50, 75, 85, 90, 97)},
    }
    failures = {}
    for name, content in bad.items():
        path = tmp_path / name
        path.write_bytes(content)
        refused = restore(runner, services, str(path), "--force")
        assert refused.exit_code == 1 and "Traceback" not in refused.output, (name, refused.output)
        failures[name] = refused.output
        assert (table_digests(services.engine), schema_of(services.engine)) == before, name
    assert "not a usable" in failures["garbage"]
    if POSTGRES:  # a cut inside the data: pg_restore finds it while psql is already replacing tables (where the
        # data starts depends on the catalog's size, so which cut falls there is not fixed)
        cuts = [name for name in failures if "cut" in name]
        assert any("restore failed, the database is unchanged" in failures[name] for name in cuts), failures
        assert all("not a usable" in failures[name] or "restore failed" in failures[name] for name in cuts), failures
    else:
        assert all("damaged" in text_ or "malformed" in text_ for name, text_ in failures.items() if "cut" in name)
    missing = restore(runner, services, str(tmp_path / "nowhere.backup"), "--force")
    assert missing.exit_code == 1 and "no backup file" in missing.output
    assert table_digests(services.engine) == before[0]


def test_restoring_over_rows_needs_force(
    runner: CliRunner, services: Services, town: dict[str, int], tmp_path: Path
) -> None:
    file = tmp_path / "town.backup"
    assert cli(runner, "backup", str(file)).exit_code == 0
    backed_up = table_digests(services.engine)
    with services.sessions.begin() as session:
        session.execute(text("DELETE FROM resident_phones WHERE resident_id = :id"), {"id": town["赵姐"]})
    changed = table_digests(services.engine)

    refused = restore(runner, services, str(file))
    assert refused.exit_code == 1
    assert "already holds" in refused.output and "add --force" in refused.output
    assert table_digests(services.engine) == changed

    forced = restore(runner, services, str(file), "--force")
    assert forced.exit_code == 0, forced.output
    assert table_digests(services.engine) == backed_up


def test_a_backup_from_a_newer_schema_is_refused(
    runner: CliRunner, services: Services, town: object, tmp_path: Path
) -> None:
    with services.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    file = tmp_path / "future.backup"
    made = cli(runner, "backup", str(file))
    assert made.exit_code == 0 and "schema revision 9999_future" in made.output
    with services.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": code_head()})
    before = table_digests(services.engine)
    refused = restore(runner, services, str(file), "--force")
    assert refused.exit_code == 1
    assert f"schema revision 9999_future, newer than this code's {code_head()}" in refused.output
    assert table_digests(services.engine) == before


def test_an_older_backup_is_migrated_on_restore(runner: CliRunner, services: Services, tmp_path: Path) -> None:
    reset_database(services.engine)  # drop everything
    upgrade(services.engine, "0008")
    with services.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO liaisons (name, phone, active, role, created_at) "
                "VALUES ('张敏', '+8613912345678', true, 'liaison', '2030-03-04 01:00:00')"
            )
        )
    file = tmp_path / "old.backup"
    made = cli(runner, "backup", str(file))
    assert made.exit_code == 0 and "schema revision 0008" in made.output and "liaisons 1" in made.output
    upgrade(services.engine)  # a new server where the hotline started once: empty, at the code's schema, whose
    with services.engine.begin() as conn:  # newer tables point at the backup's
        conn.execute(text("DELETE FROM liaisons"))
    restored = restore(runner, services, str(file))
    assert restored.exit_code == 0, restored.output
    assert f"schema upgraded from revision 0008 to {code_head()}" in restored.output
    digests = table_digests(services.engine)
    assert digests["liaisons"][0] == 1 and "staff_users" in digests  # 0009's tables are there
    assert cli(runner, "digest").exit_code == 0


def test_bad_backup_targets_are_refused(runner: CliRunner, services: Services, tmp_path: Path) -> None:
    existing = tmp_path / "existing.backup"
    existing.write_bytes(b"an older backup")
    refused = cli(runner, "backup", str(existing))
    assert refused.exit_code == 1 and "already exists" in refused.output
    assert existing.read_bytes() == b"an older backup"
    nowhere = cli(runner, "backup", str(tmp_path / "no" / "such" / "folder.backup"))
    assert nowhere.exit_code == 1 and "no folder" in nowhere.output
    assert sorted(os.listdir(tmp_path)) == ["existing.backup", "var"]


@pytest.mark.skipif(POSTGRES, reason="the file swap is SQLite's; PostgreSQL restores in one transaction")
def test_sqlite_restore_refuses_a_database_still_open(
    runner: CliRunner, services: Services, town: object, tmp_path: Path
) -> None:
    file = tmp_path / "town.backup"
    assert cli(runner, "backup", str(file)).exit_code == 0
    with services.sessions.begin() as session:
        session.execute(text("DELETE FROM resident_phones"))
    before = table_digests(services.engine)  # its pooled connection stays open: the hotline still runs
    refused = cli(runner, "restore", str(file), "--force")
    assert refused.exit_code == 1 and "is in use" in refused.output and "stop the hotline" in refused.output
    assert table_digests(services.engine) == before


@pytest.mark.skipif(POSTGRES, reason="a damaged SQLite file")
def test_sqlite_a_damaged_database_is_replaced_only_with_force(
    runner: CliRunner, services: Services, town: object, settings: Settings, tmp_path: Path
) -> None:
    file = tmp_path / "town.backup"
    assert cli(runner, "backup", str(file)).exit_code == 0
    backed_up = table_digests(services.engine)
    services.engine.dispose()
    database = settings.data_dir / "hotline.sqlite3"
    for leftover in ("-wal", "-shm"):
        database.with_name(database.name + leftover).unlink(missing_ok=True)
    database.write_bytes(b"\0" * 8192)
    database.chmod(0o640)
    refused = restore(runner, services, str(file))
    assert refused.exit_code == 1 and "cannot read the database" in refused.output and "--force" in refused.output
    assert database.read_bytes() == b"\0" * 8192
    assert restore(runner, services, str(file), "--force").exit_code == 0
    assert table_digests(services.engine) == backed_up
    assert database.stat().st_mode & 0o777 == 0o640  # the new file keeps the old one's mode
