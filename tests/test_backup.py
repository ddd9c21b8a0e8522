"""`hotline db backup`, `restore` and `digest` on the store under test: a register with history survives backup,
wipe and restore digest for digest and still serves; bad files, full databases and newer schemas are refused with
nothing changed; a backup is never half written under its name."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, create_engine, inspect, select, text
from starlette.testclient import TestClient

from dispatch.backup_common import code_head
from dispatch.backup_pg import libpq_environment
from dispatch.db import upgrade
from dispatch.db_digest import canonical, combined_digest, table_digests
from dispatch.models import AuditEntry, Base, CheckinPlan, InboundMessage, Resident, TemperatureReading
from dispatch.tokens import create_token
from hotline.cli import main
from hotline.services import Services
from hotline.settings import Settings
from tests.conftest import (
    LIAISON_PHONE,
    PHONES,
    TEST_DATABASE_URL,
    post_signed,
    reset_database,
    run_worker,
    sms_params,
)
from tests.console_helpers import make_user, sign_in

POSTGRES = TEST_DATABASE_URL.startswith("postgresql")
HOTLINE = Path(sys.executable).parent / "hotline"


@pytest.fixture
def runner(environ: dict[str, str], services: Services) -> CliRunner:
    return CliRunner(env=environ)


def cli(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(main, ["db", *args])


def restore(runner: CliRunner, services: Services, *args: str) -> Result:
    """`hotline db restore …` with the hotline stopped, as its help says: its pooled connections are closed."""
    services.engine.dispose()
    return cli(runner, "restore", *args)


def build_history(client: TestClient, services: Services) -> str:
    """Tasks, their events, outbox rows, audit entries, a reading, a plan, a staff account and an API token;
    returns the token's secret."""
    for phone, body in ((PHONES["梁阿姨"], "想买点菜"), (PHONES["王大爷"], "帮我买药"), (LIAISON_PHONE, "接1")):
        assert post_signed(client, services, "/twilio/sms", sms_params(body, from_phone=phone)).status_code == 200
        run_worker(services)  # the last: task 1 accepted, an updated row, which PostgreSQL stores after task 2
    make_user(services)
    csrf = sign_in(client)
    assert client.post("/tasks/2/note", data={"text": "已电话联系", "csrf_token": csrf}).status_code == 200
    with services.sessions.begin() as session:
        liang = session.scalars(select(Resident).where(Resident.name == "梁阿姨")).one()
        message = session.scalars(select(InboundMessage).order_by(InboundMessage.id)).first()
        assert message is not None
        session.add(TemperatureReading(resident_id=liang.id, household_id=liang.household_id, message_id=message.id,
                                       celsius=37.25, at=datetime(2030, 3, 4, 1, 2, 3, 456789, UTC)))  # fmt: skip
        session.add(CheckinPlan(resident_id=liang.id, times=["09:00", "15:30"], starts_on=date(2030, 3, 4),
                                ends_on=date(2030, 3, 18), note="观察期"))  # fmt: skip
        _, secret = create_token(session, name="backup test", role="admin")
    return secret


def residents_by_api(client: TestClient, secret: str) -> list[str]:
    answer = client.get("/api/v1/residents", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 200, answer.text
    return sorted(row["name"] for row in answer.json()["residents"])


def test_backup_wipe_restore_gives_the_same_digest_and_the_app_serves_the_register(
    runner: CliRunner, client: TestClient, services: Services, town: dict[str, int], tmp_path: Path
) -> None:
    secret = build_history(client, services)
    names = residents_by_api(client, secret)
    assert len(names) == 9
    before = table_digests(services.engine)
    for table in ("tasks", "task_events", "outbound_messages", "local_outbox", "inbound_messages", "audit_log",
                  "staff_users", "api_tokens", "temperature_readings", "checkin_plans", "alembic_version"):  # fmt: skip
        assert before[table][0] > 0, table
    assert set(before) >= {table.name for table in Base.metadata.sorted_tables}

    file = tmp_path / "backups" / "hotline.backup"
    file.parent.mkdir()
    made = cli(runner, "backup", str(file))
    assert made.exit_code == 0, made.output
    assert f"backup written to {file}: {file.stat().st_size:,} bytes, schema revision {code_head()}" in made.output
    assert "residents 9" in made.output and "tasks 2" in made.output
    assert sorted(os.listdir(file.parent)) == ["hotline.backup"]  # no partial file left beside it
    assert file.stat().st_mode & 0o777 == 0o600  # phone numbers and health details: for its owner only

    reset_database(services.engine)  # drop everything
    assert table_digests(services.engine) == {}
    restored = restore(runner, services, str(file))
    assert restored.exit_code == 0, restored.output
    assert "residents 9" in restored.output and "upgraded" not in restored.output

    assert table_digests(services.engine) == before
    assert residents_by_api(client, secret) == names  # the token, the register and the app all came back
    client.cookies.clear()
    sign_in(client)  # the staff account too, with its password
    assert "梁阿姨" in client.get("/register", params={"q": "梁"}).text


def test_digest_command_prints_every_table_and_one_total(runner: CliRunner, services: Services, town: object) -> None:
    printed = cli(runner, "digest")
    assert printed.exit_code == 0, printed.output
    digests = table_digests(services.engine)
    lines = printed.output.splitlines()
    assert lines[0] == f"schema revision {code_head()}"
    assert lines[1:-1] == [f"{name}\t{rows}\t{sha}" for name, (rows, sha) in digests.items()]
    assert lines[-1] == f"all\t{sum(rows for rows, _ in digests.values())}\t{combined_digest(digests)}"
    assert "residents\t9\t" in printed.output
    as_json = cli(runner, "digest", "--json")
    assert '"all": "' + combined_digest(digests) + '"' in as_json.output


def copy_into_sqlite(source: Engine, path: Path) -> Engine:
    """Every row of the store under test, as Python values, into a new SQLite file at the code's schema."""
    target = create_engine(f"sqlite:///{path}")
    upgrade(target)
    with source.connect() as reader, target.begin() as writer:
        for table in Base.metadata.sorted_tables:
            rows = [dict(row._mapping) for row in reader.execute(select(table))]
            if rows:
                writer.execute(table.insert(), rows)
    return target


def test_the_digest_of_a_copy_on_sqlite_is_the_same(
    client: TestClient, services: Services, town: object, tmp_path: Path
) -> None:
    """On PostgreSQL, the same data copied to SQLite digests the same: the check a store-to-store copy needs."""
    build_history(client, services)
    copy = copy_into_sqlite(services.engine, tmp_path / "copy.sqlite3")
    try:
        assert table_digests(copy) == table_digests(services.engine)
        with copy.begin() as conn:
            conn.execute(text("UPDATE residents SET name = '梁阿姨 ' WHERE name = '梁阿姨'"))
        changed = table_digests(copy)
        original = table_digests(services.engine)
        assert [name for name in original if changed[name] != original[name]] == ["residents"]
        assert changed["residents"][0] == original["residents"][0]  # same rows, one value differs
    finally:
        copy.dispose()


def test_values_are_normalized_so_stores_agree() -> None:
    shanghai = timezone(timedelta(hours=8))
    instant = datetime(2030, 3, 4, 9, 0, 0, 500, shanghai)
    assert canonical(instant) == canonical(instant.astimezone(UTC)) == "2030-03-04T01:00:00.000500+00:00"
    assert canonical(datetime(2030, 3, 4, 1, 0)) == "2030-03-04T01:00:00.000000+00:00"  # SQLite forgets the zone
    assert canonical(Decimal("37.250")) == canonical(37.25) == "37.25"
    assert canonical(37, numeric=True) == canonical(37.0) == canonical(Decimal("3.7E+1")) == "37"
    assert canonical(37) == 37 and canonical(True) is True and canonical(1) == 1
    assert canonical({"b": [1, None], "a": date(2030, 3, 4)}) == {"a": "2030-03-04", "b": [1, None]}
    with pytest.raises(TypeError):
        canonical(object())


def schema_of(engine: Engine) -> list[tuple[str, object, list[str], int]]:
    """Each table's key, indexes and foreign keys: what a half-done restore would leave out."""
    found = inspect(engine)
    return [
        (name, found.get_pk_constraint(name)["name"], sorted(str(ix["name"]) for ix in found.get_indexes(name)),
         len(found.get_foreign_keys(name)))
        for name in sorted(found.get_table_names())
    ]  # fmt: skip


def test_a_damaged_or_foreign_file_is_refused_and_nothing_changes(
    runner: CliRunner, services: Services, town: object, tmp_path: Path
) -> None:
    with services.engine.begin() as conn:  # enough rows that a cut can fall inside the data, not only the catalog
        conn.execute(
            AuditEntry.__table__.insert(),
            [{"at": datetime(2030, 3, 4, tzinfo=UTC), "actor": "cli", "actor_name": "command line", "action": "view",
              "object_kind": "resident", "object_id": n, "detail": f"entry {n}"} for n in range(4000)],
        )  # fmt: skip
    good = tmp_path / "good.backup"
    assert cli(runner, "backup", str(good)).exit_code == 0
    with services.sessions.begin() as session:  # so that a restore, had it happened, would show
        session.execute(text("UPDATE residents SET name = name || '*'"))
    before = table_digests(services.engine), schema_of(services.engine)
    data = good.read_bytes()
    bad = {
        "garbage": b"not a backup at all\n" * 50,
        **{f"cut at {p}%": data[: len(data) * p // 100] for p in (5, 50, 75, 97)},
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
    if POSTGRES:  # pg_restore found the cut inside the data, while psql was already replacing tables
        assert "restore failed, the database is unchanged" in failures["cut at 75%"], failures
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
        conn.execute(text("INSERT INTO liaisons (name, phone, active, role, created_at) "
                          "VALUES ('张敏', '+8613912345678', true, 'liaison', '2030-03-04 01:00:00')"))  # fmt: skip
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


def whole_backup(path: Path) -> bool:
    """Is this a complete backup, every byte readable?"""
    if POSTGRES:
        return subprocess.run(["pg_restore", "--file=/dev/null", str(path)], capture_output=True).returncode == 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    except sqlite3.DatabaseError:
        return False
    finally:
        conn.close()


def add_filler(services: Services) -> None:
    """Some 25 to 40 MB that compress badly, so a backup takes long enough to be killed halfway."""
    with services.engine.begin() as conn:
        if POSTGRES:
            conn.execute(text("CREATE TABLE filler AS SELECT i, md5(i::text) || md5((i * 7)::text) AS junk "
                              "FROM generate_series(1, 400000) AS i"))  # fmt: skip
        else:
            conn.execute(text("CREATE TABLE filler (junk BLOB)"))
            conn.execute(text("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40) "
                              "INSERT INTO filler SELECT randomblob(1000000) FROM n"))  # fmt: skip


def test_a_backup_killed_halfway_leaves_nothing_under_its_name(
    environ: dict[str, str], services: Services, town: object, tmp_path: Path
) -> None:
    add_filler(services)
    folder = tmp_path / "backups"
    folder.mkdir()
    file = folder / "hotline.backup"
    command = [str(HOTLINE), "db", "backup", str(file)]
    process = subprocess.Popen(command, env=environ, start_new_session=True, stdout=subprocess.PIPE)
    deadline = time.monotonic() + 30
    written = None
    while time.monotonic() < deadline and process.poll() is None:  # wait until bytes are being written
        sizes = [entry.stat().st_size for entry in folder.iterdir() if entry.is_file()]
        if sizes and max(sizes) > 1_000_000:
            written = max(sizes)
            break
        time.sleep(0.002)
    assert process.poll() is None and written, "the backup ended before it could be killed halfway"
    os.killpg(process.pid, signal.SIGKILL)  # the command and its pg_dump, as a power cut would
    process.wait()
    assert not file.exists() or whole_backup(file)
    leftovers = list(folder.iterdir())
    assert leftovers and all(entry.name.startswith(".hotline.backup.") for entry in leftovers), leftovers
    assert all(".partial" in entry.name for entry in leftovers), leftovers  # with SQLite's journal, maybe

    with services.engine.begin() as conn:
        conn.execute(text("DROP TABLE filler"))
    finished = subprocess.run(command, env=environ, capture_output=True, text=True, check=False)
    assert finished.returncode == 0, finished.stderr
    assert whole_backup(file)


@pytest.mark.skipif(not POSTGRES, reason="pg_dump's credentials")
def test_credentials_reach_pg_dump_by_environment_only(
    environ: dict[str, str], services: Services, town: object, tmp_path: Path
) -> None:
    """A recording shim in front of the real pg_dump: the password is in its environment, never its argv."""
    url = environ["DATABASE_URL"].replace("hotline@", "hotline:s3cret-Pw@")
    shims = tmp_path / "shims"
    shims.mkdir()
    log = tmp_path / "pg_dump.log"
    real = subprocess.run(["which", "pg_dump"], capture_output=True, text=True, check=True).stdout.strip()
    shim = shims / "pg_dump"
    shim.write_text(f'#!/bin/sh\necho "argv: $*" >> {log}\necho "password: $PGPASSWORD" >> {log}\nexec {real} "$@"\n')
    shim.chmod(0o755)
    run = CliRunner(env={**environ, "DATABASE_URL": url, "PATH": f"{shims}:{environ['PATH']}"})
    made = run.invoke(main, ["db", "backup", str(tmp_path / "town.backup")])
    assert made.exit_code == 0, made.output
    recorded = log.read_text()
    assert "password: s3cret-Pw" in recorded and "argv: --format=custom" in recorded
    assert "s3cret" not in recorded.split("password:")[0] and "s3cret" not in made.output
    assert libpq_environment("postgresql+psycopg://u:p%40ss@db.example:6543/hl?sslmode=require")["PGPASSWORD"] == "p@ss"
    with pytest.raises(Exception, match="'weird' cannot be handed to pg_dump"):
        libpq_environment("postgresql+psycopg://u@db/hl?weird=1")
