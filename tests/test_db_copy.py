"""`hotline db copy --to URL`: a SQLite deployment with a real history copied into the store under test
(PostgreSQL in the PostgreSQL run, another SQLite file otherwise) digest for digest, served by the app and taking
new rows; refused, with nothing written, for a target holding rows, a source behind the schema, the source itself,
bad or unreachable URLs, and a copy that does not match its source."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Connection, Engine, Row, Table, create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from starlette.testclient import TestClient

from dispatch import db_copy, register
from dispatch.backup_common import code_head, revision_of
from dispatch.db import upgrade
from dispatch.db_digest import table_digests
from dispatch.models import Base, Resident, ResidentCategory, Task, TemperatureReading
from hotline.app import create_app
from hotline.cli import main
from hotline.embedded_redis import EmbeddedRedis
from hotline.services import Services
from hotline.settings import Settings, load_settings
from tests.conftest import (
    LIAISON_PHONE,
    PHONES,
    PUBLIC_URL,
    TEST_DATABASE_URL,
    fresh_services,
    make_environ,
    make_town,
    post_signed,
    reset_database,
    run_worker,
    sms_params,
)
from tests.console_helpers import make_user, sign_in
from tests.test_backup import build_history, residents_by_api

POSTGRES = TEST_DATABASE_URL.startswith("postgresql")
RARE_NAME = '𠀋婆婆 O\'Brien "阿May"\n第二行'  # a character outside the BMP, quotes, a newline inside


@dataclass(frozen=True)
class Source:
    url: str
    secret: str  # an API token's secret, copied with the rest
    names: list[str]  # the residents, as the API lists them
    task: dict[str, Any]  # task 2, as the API shows it


def seed_town(services: Services) -> None:
    """The conftest's town (nine residents, two liaisons, one grid) on these services, and one more resident."""
    make_town(services)
    with services.sessions.begin() as session:
        register.add_resident(
            session,
            name=RARE_NAME,
            phones=["+8637166881234"],
            liaison_phone=LIAISON_PHONE,
            region="CN",
            address=register.Address("幸福里社区", "2号楼", "1单元", "101"),
        )


@pytest.fixture
def source(tmp_path: Path, redis_server: EmbeddedRedis) -> Source:
    """A SQLite deployment in its own folder with a history made through the product (webhooks, workers, the
    console, a token), closed again. Requested before `services`, which then takes over Redis and the workers."""
    settings = load_settings(make_environ(tmp_path / "source", redis_server.url), env_file=None)
    with fresh_services(settings) as built, TestClient(create_app(settings, built), base_url=PUBLIC_URL) as client:
        seed_town(built)
        secret = build_history(client, built)
        names = residents_by_api(client, secret)
        answer = client.get("/api/v1/tasks/2", headers={"Authorization": f"Bearer {secret}"})
        assert answer.status_code == 200, answer.text
    return Source(settings.database_url, secret, names, answer.json())


def copy(environ: dict[str, str], source_url: str, *args: str) -> Result:
    """`hotline db copy …` with DATABASE_URL set to `source_url`."""
    return CliRunner(env={**environ, "DATABASE_URL": source_url}).invoke(main, ["db", "copy", *args])


def target_url(settings: Settings) -> str:
    """The store under test's URL, as an operator might type it: PostgreSQL's without the driver's name."""
    return settings.database_url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def source_engine(source: Source) -> Any:
    engine = create_engine(source.url, poolclass=NullPool)
    yield engine
    engine.dispose()


def model_rows(engine: Engine) -> dict[str, int]:
    """Rows in each of the models' tables the database has."""
    digests = table_digests(engine, Base.metadata.sorted_tables)
    return {name: rows for name, (rows, _) in digests.items()}


def test_a_copy_digests_the_same_and_the_app_serves_it_and_takes_new_rows(
    source: Source,
    source_engine: Engine,
    environ: dict[str, str],
    settings: Settings,
    services: Services,
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reset_database(services.engine)  # a target without any table: the copy migrates it first
    batches: list[tuple[str, int]] = []
    real_copy_rows = db_copy.copy_rows

    def counted(writer: Connection, table: Table, rows: Sequence[Row[Any]]) -> None:
        batches.append((table.name, len(rows)))
        real_copy_rows(writer, table, rows)

    monkeypatch.setattr(db_copy, "copy_rows", counted)
    monkeypatch.setattr(db_copy, "BATCH", 4)
    done = copy(environ, source.url, "--to", target_url(settings))
    assert done.exit_code == 0, done.output
    assert "the hotline must be stopped while it copies" in done.output
    assert f"schema revision {code_head()}" in done.output and "digests match" in done.output

    expected = table_digests(source_engine)
    assert table_digests(services.engine) == expected  # every table, alembic_version included
    for name in (
        "residents",
        "resident_phones",
        "households",
        "liaisons",
        "grids",
        "communities",
        "tasks",
        "task_events",
        "inbound_messages",
        "outbound_messages",
        "local_outbox",
        "audit_log",
        "staff_users",
        "api_tokens",
        "temperature_readings",
        "checkin_plans",
    ):
        assert expected[name][0] > 0, name
        assert f"  {name} " in done.output and done.output.split(f"  {name} ")[1].split()[0] == f"{expected[name][0]:,}"
    assert {name for name, _ in batches} == {
        name
        for name, (rows, _) in expected.items()
        if rows and name in {table.name for table in Base.metadata.sorted_tables}
    }
    assert max(rows for _, rows in batches) == 4
    assert [rows for name, rows in batches if name == "residents"] == [4, 4, 2]  # streamed, a batch at a time

    with services.sessions() as session:  # the values themselves, not only their digests
        reading = session.scalars(select(TemperatureReading)).one()
        assert reading.at == datetime(2030, 3, 4, 1, 2, 3, 456789, UTC) and reading.celsius == 37.25
        rare = session.scalars(select(Resident).where(Resident.name == RARE_NAME)).one()
        assert rare.phones[0].landline and rare.household.grid_id is None
        assert session.scalars(select(Resident).where(Resident.name == "郑阿婆")).one().categories == [
            ResidentCategory.UNDER_OBSERVATION
        ]

    assert residents_by_api(client, source.secret) == source.names  # the token, the register, the app
    task = client.get("/api/v1/tasks/2", headers={"Authorization": f"Bearer {source.secret}"})
    assert task.status_code == 200 and task.json() == source.task
    sign_in(client)  # the staff account, with its password
    assert "已电话联系" in client.get("/tasks/2").text

    # New rows through the product's own paths: ids after the copied ones (PostgreSQL: the sequences were reset).
    before = model_rows(services.engine)
    asked = post_signed(client, services, "/twilio/sms", sms_params("帮我买药", from_phone=PHONES["陈伯"]))
    assert asked.status_code == 200
    run_worker(services)
    make_user(services, "clerk2")
    with services.sessions.begin() as session:
        register.add_resident(
            session,
            name="新居民",
            phones=["+8613900000099"],
            liaison_phone=LIAISON_PHONE,
            region="CN",
            address=register.Address("幸福里社区", "9号楼", "1单元", "901"),
        )
        newest = session.scalars(select(Task).order_by(Task.id.desc())).first()
        assert newest is not None and newest.id == before["tasks"] + 1
    after = model_rows(services.engine)
    for name in (
        "tasks",
        "task_events",
        "inbound_messages",
        "outbound_messages",
        "local_outbox",
        "staff_users",
        "residents",
        "households",
        "resident_phones",
    ):
        assert after[name] > before[name], name


def test_a_copy_from_the_store_under_test_into_a_new_sqlite_file(
    environ: dict[str, str], settings: Settings, services: Services, client: TestClient, tmp_path: Path
) -> None:
    """The other way too (in the PostgreSQL run: PostgreSQL, read through server-side cursors, into SQLite)."""
    seed_town(services)
    build_history(client, services)
    file = tmp_path / "elsewhere" / "copy.sqlite3"
    done = copy(environ, settings.database_url, "--to", f"sqlite:///{file}")
    assert done.exit_code == 0, done.output
    engine = create_engine(f"sqlite:///{file}", poolclass=NullPool)
    try:
        assert table_digests(engine) == table_digests(services.engine)
    finally:
        engine.dispose()


def test_a_target_holding_rows_is_refused_and_nothing_is_written(
    source: Source, environ: dict[str, str], settings: Settings, services: Services
) -> None:
    seed_town(services)
    before = table_digests(services.engine)
    refused = copy(environ, source.url, "--to", target_url(settings))
    assert refused.exit_code == 1, refused.output
    held = "communities 1, grids 1, liaisons 2, households 10, residents 10, …"
    assert f"is not empty: table communities holds rows ({held})" in refused.output
    assert "Nothing was written" in refused.output and "Traceback" not in refused.output
    assert table_digests(services.engine) == before


def test_an_older_target_holding_a_row_is_neither_migrated_nor_written(
    source: Source, environ: dict[str, str], settings: Settings, services: Services
) -> None:
    reset_database(services.engine)
    upgrade(services.engine, "0008")
    with services.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO liaisons (name, phone, active, role, created_at) "
                "VALUES ('张敏', '+8613912345678', true, 'liaison', '2030-03-04 01:00:00')"
            )
        )
    tables = set(inspect(services.engine).get_table_names())
    refused = copy(environ, source.url, "--to", target_url(settings))
    assert refused.exit_code == 1 and "table liaisons holds rows (liaisons 1)" in refused.output, refused.output
    with services.engine.connect() as conn:
        assert revision_of(conn) == "0008"
    assert set(inspect(services.engine).get_table_names()) == tables


def test_a_source_behind_the_schema_is_refused(
    environ: dict[str, str], settings: Settings, services: Services, tmp_path: Path
) -> None:
    old = create_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}", poolclass=NullPool)
    upgrade(old, "0010")
    reset_database(services.engine)
    refused = copy(environ, f"sqlite:///{tmp_path / 'old.sqlite3'}", "--to", target_url(settings))
    assert refused.exit_code == 1, refused.output
    assert f"is at schema revision 0010, this version's is {code_head()}" in refused.output
    assert "run `hotline db upgrade` first" in refused.output
    assert inspect(services.engine).get_table_names() == []  # the target was not even migrated
    with old.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    refused = copy(environ, f"sqlite:///{tmp_path / 'old.sqlite3'}", "--to", target_url(settings))
    assert refused.exit_code == 1, refused.output
    assert f"is at schema revision 9999_future, newer than this version's {code_head()}" in refused.output
    assert inspect(services.engine).get_table_names() == []


def test_the_source_itself_is_refused_however_it_is_spelled(
    environ: dict[str, str], settings: Settings, services: Services, tmp_path: Path
) -> None:
    seed_town(services)
    before = table_digests(services.engine)
    if POSTGRES:
        same = target_url(settings) + "&application_name=hotline-copy"
    else:
        (tmp_path / "link").symlink_to(settings.data_dir)
        same = f"sqlite:///{tmp_path / 'link' / 'hotline.sqlite3'}"
    refused = copy(environ, settings.database_url, "--to", same)
    assert refused.exit_code == 1, refused.output
    assert "is the source database itself" in refused.output
    assert table_digests(services.engine) == before


def test_bad_and_unreachable_targets_are_refused_without_showing_a_password(
    environ: dict[str, str], settings: Settings, services: Services, tmp_path: Path
) -> None:
    (tmp_path / "garbage.sqlite3").write_bytes(b"not a database at all\n" * 500)
    answers = {
        f"sqlite:///{tmp_path / 'garbage.sqlite3'}": "cannot connect to the target database",
        "not a url": "the target (--to) is not a database URL",
        "postgresql://hotline:s3cret@db:notaport/hotline": "the target (--to) is not a database URL",
        "mysql://root:s3cret@db/hotline": "must be a SQLite or PostgreSQL database, not 'mysql'",
        "sqlite://": "must be a SQLite database in a file",
        "postgresql://hotline:s3cret@127.0.0.1:1/hotline": "cannot connect to the target database "
        "postgresql+psycopg://hotline:***@127.0.0.1:1/hotline: connection failed",
    }
    for url, answer in answers.items():
        refused = copy(environ, settings.database_url, "--to", url)
        assert refused.exit_code == 1 and answer in refused.output, (url, refused.output)
        assert "s3cret" not in refused.output and "Traceback" not in refused.output


def alter_a_name(writer: Connection, table: Table, rows: Sequence[Row[Any]]) -> None:
    if table.name == "residents":  # one trailing space: the same rows, one value differs
        at = list(table.columns.keys()).index("name")
        rows = [(*row[:at], row[at] + " ", *row[at + 1 :]) if row[at] == "梁阿姨" else row for row in rows]  # type: ignore[misc]
    db_copy.real_copy_rows(writer, table, rows)  # type: ignore[attr-defined]


def drop_a_row(writer: Connection, table: Table, rows: Sequence[Row[Any]]) -> None:
    db_copy.real_copy_rows(writer, table, rows[:-1] if table.name == "audit_log" else rows)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("fault", "table"), [(alter_a_name, "residents"), (drop_a_row, "audit_log")])
def test_a_copy_that_does_not_match_is_rolled_back(
    source: Source,
    environ: dict[str, str],
    settings: Settings,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    fault: Any,
    table: str,
) -> None:
    monkeypatch.setattr(db_copy, "real_copy_rows", db_copy.copy_rows, raising=False)
    monkeypatch.setattr(db_copy, "copy_rows", fault)
    refused = copy(environ, source.url, "--to", target_url(settings))
    assert refused.exit_code == 1, refused.output
    assert f"the copy does not match the source in 1 table(s): {table} (rows " in refused.output
    assert "rolled back, the target holds none of it" in refused.output
    assert set(model_rows(services.engine).values()) == {0}  # nothing committed
    with services.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Resident.__table__)).scalar_one() == 0


def test_a_row_the_target_refuses_stops_the_copy_without_showing_its_values(
    source: Source, environ: dict[str, str], settings: Settings, services: Services
) -> None:
    """A source SQLite let through (foreign keys off): a phone of a resident who does not exist."""
    database = sqlite3.connect(make_url(source.url).database or "")
    database.execute("PRAGMA foreign_keys = OFF")
    database.execute(
        "INSERT INTO resident_phones (resident_id, phone, position, landline) VALUES (999, '+8613900000123', 0, 0)"
    )
    database.commit()
    database.close()
    refused = copy(environ, source.url, "--to", target_url(settings))
    assert refused.exit_code == 1, refused.output
    assert "the target refused a row of resident_phones: " in refused.output and "foreign key" in refused.output.lower()
    assert "+8613900000123" not in refused.output and "999" not in refused.output
    assert set(model_rows(services.engine).values()) == {0}
