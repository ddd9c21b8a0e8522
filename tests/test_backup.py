"""`hotline db backup`, `restore` and `digest` on the store under test: a register with history survives backup,
wipe and restore digest for digest and still serves; a backup is never half written under its name. What restore
refuses: `test_backup_restore_checks`."""

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
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, select, text
from starlette.testclient import TestClient

from dispatch.backup_common import code_head
from dispatch.backup_pg import libpq_environment
from dispatch.db import upgrade
from dispatch.db_digest import canonical, combined_digest, table_digests
from dispatch.models import Base, CheckinPlan, InboundMessage, Resident, TemperatureReading
from dispatch.tokens import create_token
from hotline.cli import main
from hotline.services import Services
from tests.backup_helpers import POSTGRES, cli, restore
from tests.conftest import LIAISON_PHONE, PHONES, post_signed, reset_database, run_worker, sms_params
from tests.console_helpers import make_user, sign_in

HOTLINE = Path(sys.executable).parent / "hotline"


@pytest.fixture
def runner(environ: dict[str, str], services: Services) -> CliRunner:
    return CliRunner(env=environ)


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
        session.add(
            TemperatureReading(
                resident_id=liang.id,
                household_id=liang.household_id,
                message_id=message.id,
                celsius=37.25,
                at=datetime(2030, 3, 4, 1, 2, 3, 456789, UTC),
            )
        )
        session.add(
            CheckinPlan(
                resident_id=liang.id,
                times=["09:00", "15:30"],
                starts_on=date(2030, 3, 4),
                ends_on=date(2030, 3, 18),
                note="观察期",
            )
        )
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
    for table in (
        "tasks",
        "task_events",
        "outbound_messages",
        "local_outbox",
        "inbound_messages",
        "audit_log",
        "staff_users",
        "api_tokens",
        "temperature_readings",
        "checkin_plans",
        "alembic_version",
    ):
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
            conn.execute(
                text(
                    "CREATE TABLE filler AS SELECT i, md5(i::text) || md5((i * 7)::text) AS junk "
                    "FROM generate_series(1, 400000) AS i"
                )
            )
        else:
            conn.execute(text("CREATE TABLE filler (junk BLOB)"))
            conn.execute(
                text(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40) "
                    "INSERT INTO filler SELECT randomblob(1000000) FROM n"
                )
            )


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
