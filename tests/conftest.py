"""Shared fixtures: a real redis-server (started as the product starts it), a real SQLite file per test,
Starlette's TestClient, real RQ workers, and requests signed the way Twilio signs them."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx2 as httpx
import pytest
from alembic.script import ScriptDirectory
from argon2 import PasswordHasher, profiles
from rq import SimpleWorker
from sqlalchemy import Engine, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from starlette.testclient import TestClient

from dispatch import register, staff_accounts
from dispatch.db import alembic_config, make_engine, upgrade
from dispatch.models import Base, LocalOutboxEntry, Resident, ResidentCategory, ResidentStatus, Task
from hotline import services as services_module
from hotline.app import create_app
from hotline.embedded_redis import EmbeddedRedis
from hotline.jobs import checkins
from hotline.jobs.worker import HotlineJob
from hotline.services import Services
from hotline.settings import Settings, load_settings
from hotline.webhooks.signatures import SIGNATURE_HEADER
from workers.queues import ALL_QUEUES

TEST_AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
PUBLIC_URL = "https://hotline.example.org"
LIAISON_PHONE = "+8613912345678"
RESIDENT_PHONE = "+8613800138000"
STRANGER_PHONE = "+8613700000001"
HOTLINE_NUMBER = "+8657112345678"


@contextlib.contextmanager
def temporary_redis() -> Iterator[EmbeddedRedis]:
    """A real redis-server, started as the product starts it, in a short temp dir (socket paths are limited)."""
    with tempfile.TemporaryDirectory(prefix="hl-") as tmp:
        server = EmbeddedRedis(Path(tmp))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """One redis-server for the session; `services` flushes it before each test."""
    with temporary_redis() as server:
        yield server


def make_environ(data_dir: Path, redis_url: str, **overrides: str) -> dict[str, str]:
    """A complete environment for `load_settings`, as an operator would set it."""
    environ = {
        "HOTLINE_DATA_DIR": str(data_dir),
        "REDIS_URL": redis_url,
        "HOTLINE_PUBLIC_URL": PUBLIC_URL,
        "TWILIO_AUTH_TOKEN": TEST_AUTH_TOKEN,
        "HOTLINE_GATEWAY": "local",
        "TWILIO_FROM_NUMBER": HOTLINE_NUMBER,
        "PATH": os.environ.get("PATH", ""),
    }
    environ.update(overrides)
    return environ


# Set to a PostgreSQL URL to run the suite on PostgreSQL instead of a SQLite file per test.
TEST_DATABASE_URL = os.environ.get("HOTLINE_TEST_DATABASE_URL", "")


@functools.cache
def _names_the_database_under_test(path: Path) -> bool:
    source = path.read_text(encoding="utf-8")
    return "TEST_DATABASE_URL" in source or "POSTGRES" in source


def reaches_the_database_under_test(item: pytest.Item) -> bool:
    """Whether a test reaches the database the run was given: through the `environ` fixture (and so `settings`,
    `services`, `client`, …), or, in a module that names `TEST_DATABASE_URL` or `POSTGRES`, by itself. A test
    marked `one_store` is about something else (Redis failing over, this rule), so its SQLite run is enough."""
    if item.get_closest_marker("one_store"):
        return False
    return "environ" in getattr(item, "fixturenames", ()) or _names_the_database_under_test(Path(item.path))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL, run only the tests that reach the database: the others (parsers, word tables, templates,
    processes on SQLite files of their own) would do exactly what the SQLite run of the suite did."""
    if not TEST_DATABASE_URL:
        return
    elsewhere = [item for item in items if not reaches_the_database_under_test(item)]
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = [item for item in items if reaches_the_database_under_test(item)]


@pytest.fixture
def environ(tmp_path: Path, redis_server: EmbeddedRedis) -> dict[str, str]:
    if TEST_DATABASE_URL:
        return make_environ(tmp_path / "var", redis_server.url, DATABASE_URL=TEST_DATABASE_URL)
    return make_environ(tmp_path / "var", redis_server.url)


def reset_database(engine: Engine) -> None:
    """Empty a shared database (PostgreSQL) so each test starts from a fresh schema, as with a new SQLite file."""
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture(autouse=True)
def whole_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """A check-in batch job yields after a slice of real time and queues the rest a second later. The suite's
    in-process workers run without a scheduler, so on a busy machine the rest would wait for nobody: here a
    batch runs whole, whatever the machine's load."""
    monkeypatch.setattr(checkins, "SLICE_SECONDS", 600.0)


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The product hashes passwords with argon2id at RFC 9106's parameters: 64 MiB and 4 lanes, 60 ms to over half
    a second a hash on a busy 2-core machine, and the suite signs in hundreds of times. In the suite's own process
    the hashes are argon2id at its cheapest parameters. The product's processes the suite starts keep the real
    ones, and test_secrets_at_rest checks those."""
    monkeypatch.setattr(staff_accounts, "_HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture
def settings(environ: dict[str, str]) -> Settings:
    return load_settings(environ, env_file=None)


@functools.cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config(make_engine("sqlite://"))).get_current_head()
    assert head is not None
    return head


@functools.cache
def migrated_template() -> Path:
    """A SQLite file migrated to head once per session, which each test copies instead of migrating anew (the
    migrations cost about half a second a test). The migrations themselves are tested in tests/test_db.py."""
    path = Path(tempfile.mkdtemp(prefix="hl-template-")) / "hotline.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    raw = engine.raw_connection()  # outside any transaction: the checkpoint needs no reader or writer in the way
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]  # all pages in the file
    finally:
        raw.close()
    engine.dispose()
    return path


def sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def empty_database(engine: Engine) -> None:
    """Bring a shared database (PostgreSQL) to a fresh schema with no rows and ids starting at 1.

    When it is at head already (most tests), one round trip deletes every row and restarts every sequence (a few
    ms, where TRUNCATE takes tens and migrating anew hundreds); otherwise, or if that fails, drop and migrate.
    """
    with engine.begin() as conn:
        at_head = conn.execute(text("SELECT to_regclass('alembic_version') IS NOT NULL")).scalar() and (
            conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]
        )
        sequences = conn.execute(text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")).scalars()
        quote = conn.dialect.identifier_preparer.quote
        statements = [str(table.delete().compile(conn)) for table in reversed(Base.metadata.sorted_tables)]
        statements += [f"ALTER SEQUENCE {quote(name)} RESTART" for name in sequences]
    if at_head:
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("; ".join(statements))
            return
        except DBAPIError:
            pass
    reset_database(engine)
    upgrade(engine)


@contextlib.contextmanager
def fresh_services(settings: Settings) -> Iterator[Services]:
    """Services on a freshly migrated database and a flushed Redis, installed for in-process workers."""
    database_file = sqlite_file(settings.database_url)
    copied = False
    if database_file is not None and not database_file.exists():
        database_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(migrated_template(), database_file)
        copied = True
    built = Services.build(settings)
    if built.engine.dialect.name != "sqlite":
        empty_database(built.engine)
    elif not copied:
        upgrade(built.engine)
    built.redis.flushall()
    services_module.install(built)
    try:
        yield built
    finally:
        services_module.install(None)
        built.close()


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    with fresh_services(settings) as built:
        yield built


def check_voice_response(response: httpx.Response) -> None:
    """Every answer of a voice webhook in the suite must be voice TwiML (a <Response>, voice verbs only)."""
    if response.request.url.path.startswith("/twilio/voice") and response.status_code == 200:
        from tests.callflow import parse_voice_twiml

        response.read()
        parse_voice_twiml(response.text)


@pytest.fixture
def client(settings: Settings, services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(settings, services), base_url=PUBLIC_URL) as test_client:
        test_client.event_hooks["response"].append(check_voice_response)
        yield test_client


@pytest.fixture
def registered(services: Services) -> dict[str, int]:
    """One liaison and one resident of theirs."""
    with services.sessions.begin() as session:
        liaison = register.add_liaison(session, name="张敏", phone=LIAISON_PHONE, region="CN")
        resident = register.add_resident(
            session, name="梁阿姨", phones=[RESIDENT_PHONE], liaison_phone=LIAISON_PHONE, region="CN"
        )
        return {"liaison": liaison.id, "resident": resident.id}


def sms_params(body: str = "想买点菜", from_phone: str = RESIDENT_PHONE, sid: str | None = None) -> dict[str, str]:
    """The form Twilio posts for one inbound SMS."""
    return {
        "MessageSid": sid or "SM" + uuid.uuid4().hex,
        "AccountSid": "AC" + "1" * 32,
        "From": from_phone,
        "To": HOTLINE_NUMBER,
        "Body": body,
        "NumMedia": "0",
    }


def sign(services: Services, path: str, params: dict[str, str]) -> str:
    return services.signature.sign(path, params)


def post_signed(client: TestClient, services: Services, path: str, params: dict[str, str], **headers: str):  # type: ignore[no-untyped-def]
    """POST a form signed with our token for our public URL, as Twilio does."""
    return client.post(path, data=params, headers={SIGNATURE_HEADER: sign(services, path, params), **headers})


class BurstWorker(SimpleWorker):
    """RQ's SimpleWorker with the hotline's jobs, as `hotline worker` runs it (`hotline.jobs.worker.build_worker`),
    without the channel on which a worker is sent commands from
    outside (stop, kill the job): nothing in the suite sends one, and its listening thread takes a fifth of a second
    to stop each time a test runs the worker."""

    def subscribe(self) -> None:
        pass

    def unsubscribe(self) -> None:
        pass


def run_worker(services: Services, with_scheduler: bool = False) -> None:
    """Run a real RQ worker in this process until the queues are empty (first moving due retries, if asked)."""
    worker = BurstWorker(list(ALL_QUEUES), connection=services.redis, job_class=HotlineJob)
    worker.work(burst=True, with_scheduler=with_scheduler)


def local_outbox(services: Services) -> list[LocalOutboxEntry]:
    """What the local gateway was asked to send, oldest first."""
    with services.sessions() as session:
        return list(session.scalars(select(LocalOutboxEntry).order_by(LocalOutboxEntry.id)))


def sent_to(services: Services, phone: str) -> list[str]:
    """The texts the local gateway was asked to send to `phone`, oldest first."""
    return [entry.body for entry in local_outbox(services) if entry.to_phone == phone]


def tasks(services: Services) -> list[Task]:
    """Every task, oldest first."""
    with services.sessions() as session:
        return list(session.scalars(select(Task).order_by(Task.id)))


BACKUP_PHONE, LEADER_PHONE, DUTY_PHONE = "+8613912345679", "+8613912345690", "+8637166880000"
LADDER_HOME = register.Address("幸福里社区", "3号楼", "2单元", "402")


@pytest.fixture
def community(services: Services) -> None:
    """A household with primary and backup liaisons, in a grid with a leader, in a community with a duty phone."""
    with services.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone=LIAISON_PHONE, region="CN")
        register.add_liaison(session, name="李强", phone=BACKUP_PHONE, region="CN")
        resident = register.add_resident(
            session,
            name="梁阿姨",
            phones=["13800138000"],
            liaison_phone=LIAISON_PHONE,
            backup_liaison_phone=BACKUP_PHONE,
            address=LADDER_HOME,
            region="CN",
        )
        household = resident.household
        assert household.community is not None
        household.community.duty_phone = DUTY_PHONE
        household.grid = register.find_or_create_grid(session, household.community, "第1网格")
        household.grid.leader_name, household.grid.leader_phone = "王组长", LEADER_PHONE


# ── The daily check-in: a town of nine residents and a clock the test moves ──────────────────────────────────

DAY = date(2030, 3, 4)
ZONE = ZoneInfo("Asia/Shanghai")
PHONES = {
    "梁阿姨": "+8613900000001",  # answers 1: fine
    "王大爷": "+8613900000002",  # needs medicine
    "刘奶奶": "+8613900000003",  # a fever
    "陈伯": "+8613900000004",  # a temperature, no fever
    "赵姐": "+8613900000005",  # never answers
    "孙爷爷": "+8637166881111",  # a landline: check-in by call
    "周阿姨": "+8613900000007",  # opted out
    "吴叔": "+8613900000008",  # answers after the visit was asked for
    "郑阿婆": "+8613900000009",  # under observation: twice a day
}


def at(hhmm: str, day: date = DAY) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), ZONE).astimezone(UTC)


@dataclass
class Clock:
    now: datetime


@pytest.fixture
def clock(services: Services) -> Clock:
    held = Clock(at("08:00"))
    services.clock = lambda: held.now
    checkins.forget_made_day(services)
    return held


@pytest.fixture
def town(services: Services) -> dict[str, int]:
    """Nine residents in one grid, each in their own flat, served by 张敏 with 李强 as backup."""
    return make_town(services)


def make_town(services: Services) -> dict[str, int]:
    """The town of the `town` fixture, on any services: resident ids by name."""
    ids = {}
    with services.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone=LIAISON_PHONE, region="CN")
        register.add_liaison(session, name="李强", phone=BACKUP_PHONE, region="CN")
        for room, (name, phone) in enumerate(PHONES.items(), start=101):
            resident = register.add_resident(
                session,
                name=name,
                phones=[phone],
                liaison_phone=LIAISON_PHONE,
                backup_liaison_phone=BACKUP_PHONE,
                address=register.Address("幸福里社区", "1号楼", "1单元", str(room)),
                region="CN",
            )
            household = resident.household
            assert household.community is not None
            household.grid = register.find_or_create_grid(session, household.community, "第1网格")
            ids[name] = resident.id
        session.get(Resident, ids["周阿姨"]).status = ResidentStatus.OPTED_OUT  # type: ignore[union-attr]
        session.get(Resident, ids["郑阿婆"]).categories = [ResidentCategory.UNDER_OBSERVATION]  # type: ignore[union-attr]
        session.flush()
        # Registered well before the day, as the observation period counts from registration.
        session.execute(update(Resident).values(created_at=at("10:00", date(2030, 2, 25))))
    return ids
