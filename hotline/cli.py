"""The `hotline` command: run the service, manage the register, read the outbox."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar

import click
from redis.exceptions import RedisError
from sqlalchemy.orm import Session, sessionmaker

from dispatch import register
from dispatch.db import make_engine, make_read_session_factory, make_session_factory, upgrade
from dispatch.exceptions import DispatchError
from dispatch.inbound import recent_inbound
from dispatch.models import InboundOutcome
from dispatch.outbox import recent_local_outbox
from dispatch.phones import mask_phone
from hotline.embedded_redis import EmbeddedRedis
from hotline.exceptions import EmbeddedRedisError, SettingsError
from hotline.settings import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("hotline")


def _setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        # One line that names the variable, and a clean exit: no traceback for a configuration mistake.
        click.echo(f"hotline: configuration error: {exc}", err=True)
        raise SystemExit(2) from None


def _domain_errors(func: F) -> F:
    """Show domain errors as one clear line and exit 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (DispatchError, ValueError, EmbeddedRedisError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def _embedded_redis(settings: Settings) -> Iterator[EmbeddedRedis | None]:
    """Start (or attach to) the private redis-server when REDIS_URL is unset."""
    if not settings.embedded_redis:
        yield None
        return
    server = EmbeddedRedis(settings.data_dir, settings.redis_server_binary)
    try:
        server.start()
    except EmbeddedRedisError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield server
    finally:
        server.stop()


def _migrate(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


@click.group()
@click.version_option(package_name="hotline")
def main() -> None:
    """Hotline: a phone and SMS hotline and task dispatch for residents who need help at home."""
    _setup_logging()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
def serve(host: str, port: int) -> None:
    """Run the web server (webhooks now; console and API later)."""
    import uvicorn

    from hotline.app import create_app

    settings = _settings()
    with _embedded_redis(settings):
        _migrate(settings)
        # proxy_headers: behind a proxy, X-Forwarded-Proto is trusted only from the addresses uvicorn is told.
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info", proxy_headers=True)


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker(burst: bool) -> None:
    """Run an RQ worker on the hotline's queues."""
    from rq import SimpleWorker

    from hotline import services as services_module
    from workers.queues import ALL_QUEUES

    settings = _settings()
    with _embedded_redis(settings):
        services = services_module.Services.build(settings)
        services_module.install(services)
        try:
            # SimpleWorker runs jobs in this process: no fork per job, one engine and connection pool kept warm.
            # Jobs are short database and HTTP calls; `hotline run` restarts a worker that dies.
            rq_worker = SimpleWorker(list(ALL_QUEUES), connection=services.redis)
            rq_worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
        finally:
            services_module.install(None)
            services.close()


@main.command()
def scheduler() -> None:
    """Run the periodic jobs: for now, the sweeper that re-queues work Redis lost."""
    from rq.cron import CronScheduler

    from hotline.services import connect_redis
    from workers.jobs import sweep
    from workers.queues import MAINTENANCE

    settings = _settings()
    with _embedded_redis(settings):
        redis = connect_redis(settings)
        while True:
            cron = CronScheduler(connection=redis)
            cron.register(sweep, queue_name=MAINTENANCE, interval=settings.sweep_interval_seconds, result_ttl=0)
            try:
                cron.start()  # type: ignore[no-untyped-call]
                return  # stopped by a signal
            except RedisError as exc:
                # Redis is down or restarting: wait for it rather than die; the work is safe in the database.
                log.error("scheduler: Redis unavailable (%s); retrying in 2s", type(exc).__name__)
                time.sleep(2)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
def run(host: str, port: int) -> None:
    """Run everything on one machine: Redis (if embedded), the web server, a worker and the scheduler."""
    from hotline.services import redis_url
    from hotline.supervisor import Child, Supervisor, child_env, hotline_command

    settings = _settings()
    with _embedded_redis(settings) as server:
        _migrate(settings)
        click.echo(f"Hotline is running on http://{host}:{port}  (gateway: {settings.gateway})")
        click.echo(
            f"Twilio webhooks: {settings.callback_url('/twilio/sms')}  {settings.callback_url('/twilio/status')}"
        )
        children = [
            Child("web", hotline_command("serve", "--host", host, "--port", str(port)), critical=True),
            Child("worker", hotline_command("worker")),
            Child("scheduler", hotline_command("scheduler")),
        ]
        code = Supervisor(children, child_env(redis_url(settings)), redis=server).run()
    raise SystemExit(code)


@main.group()
def db() -> None:
    """The database."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all database migrations."""
    settings = _settings()
    _migrate(settings)
    click.echo("database is up to date")


def _sessions(settings: Settings) -> sessionmaker[Session]:
    _migrate(settings)
    return make_session_factory(make_engine(settings.database_url))


def _read_sessions(settings: Settings) -> sessionmaker[Session]:
    _migrate(settings)
    return make_read_session_factory(make_engine(settings.database_url))


@main.group()
def liaisons() -> None:
    """Liaisons: the people who take errands by SMS."""


@liaisons.command("add")
@click.option("--name", required=True, help="The liaison's name, as residents know them.")
@click.option("--phone", required=True, help="Mobile number; national numbers are read in HOTLINE_REGION.")
@_domain_errors
def liaisons_add(name: str, phone: str) -> None:
    """Add a liaison."""
    settings = _settings()
    with _sessions(settings).begin() as session:
        liaison = register.add_liaison(session, name=name, phone=phone, region=settings.region)
        click.echo(f"liaison {liaison.id} {liaison.name} {liaison.phone}")


@liaisons.command("list")
def liaisons_list() -> None:
    """List liaisons."""
    settings = _settings()
    with _read_sessions(settings)() as session:
        for liaison in register.list_liaisons(session):
            click.echo(f"{liaison.id}\t{liaison.name}\t{liaison.phone}\t{'active' if liaison.active else 'inactive'}")


@main.group()
def residents() -> None:
    """Residents in the register."""


@residents.command("add")
@click.option("--name", required=True, help="The resident's name.")
@click.option("--phone", required=True, help="The resident's number; national numbers are read in HOTLINE_REGION.")
@click.option("--liaison", "liaison_phone", required=True, help="Phone number of the resident's liaison.")
@click.option("--language", type=click.Choice(["zh-CN", "en"]), default="zh-CN", show_default=True)
@_domain_errors
def residents_add(name: str, phone: str, liaison_phone: str, language: str) -> None:
    """Add a resident with their liaison."""
    settings = _settings()
    with _sessions(settings).begin() as session:
        resident = register.add_resident(
            session, name=name, phone=phone, liaison_phone=liaison_phone, region=settings.region, language=language
        )
        liaison_name = resident.liaison.name if resident.liaison else "-"
        click.echo(f"resident {resident.id} {resident.name} {resident.phone} liaison {liaison_name}")


@residents.command("list")
def residents_list() -> None:
    """List residents."""
    settings = _settings()
    with _read_sessions(settings)() as session:
        for resident in register.list_residents(session):
            liaison = resident.liaison.name if resident.liaison else "-"
            click.echo(f"{resident.id}\t{resident.name}\t{resident.phone}\t{liaison}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
def outbox(as_json: bool, limit: int) -> None:
    """What the local gateway recorded (what would have been sent), newest first."""
    settings = _settings()
    with _read_sessions(settings)() as session:
        rows = recent_local_outbox(session, limit=limit)
        records = [
            {
                "to": row.to_phone,
                "kind": row.kind,
                "body": row.body,
                "time": _local_time(row.created_at, settings),
                "status": row.status,
                "sid": row.sid,
            }
            for row in rows
        ]
    _print_records(records, as_json, "{time}  {status:<6} {kind} to {to}: {body}", "outbox is empty")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--unregistered", is_flag=True, help="Only messages from numbers not in the register.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
def inbox(as_json: bool, unregistered: bool, limit: int) -> None:
    """Inbound SMS as stored, newest first, with what became of each."""
    settings = _settings()
    outcome = InboundOutcome.UNKNOWN_SENDER if unregistered else None
    with _read_sessions(settings)() as session:
        records = [
            {
                "from": row.from_phone,
                "body": row.body,
                "time": _local_time(row.received_at, settings),
                "outcome": row.outcome or "waiting",
                "sid": row.provider_sid,
            }
            for row in recent_inbound(session, limit=limit, outcome=outcome)
        ]
    _print_records(records, as_json, "{time}  {outcome:<14} from {from}: {body}", "inbox is empty")


def _local_time(moment: datetime, settings: Settings) -> str:
    return moment.astimezone(settings.timezone).isoformat(timespec="seconds")


def _print_records(records: list[dict[str, str]], as_json: bool, line: str, empty: str) -> None:
    """One JSON object per line, or one formatted line per record; `empty` when there are none (text only)."""
    for record in records:
        click.echo(json.dumps(record, ensure_ascii=False) if as_json else line.format(**record))
    if not records and not as_json:
        click.echo(empty)


@main.command("simulate-sms")
@click.option("--from", "from_phone", required=True, help="The sender's number, as a phone would show it.")
@click.option("--url", default=None, help="Base URL of the running hotline (default: HOTLINE_PUBLIC_URL).")
@click.argument("body")
@_domain_errors
def simulate_sms(from_phone: str, url: str | None, body: str) -> None:
    """Send a signed inbound SMS to a running hotline, exactly as Twilio would."""
    from dispatch.phones import normalize_phone
    from workers.gateways.twilio import SIGNATURE_HEADER, TwilioSignatureCheck

    settings = _settings()
    base = (url or settings.public_url).rstrip("/")
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": settings.twilio_account_sid or "AC" + "0" * 32,
        "From": normalize_phone(from_phone, settings.region),
        "To": settings.twilio_from_number or "+10000000000",
        "Body": body,
        "NumMedia": "0",
    }
    # Signed for the URL the server believes it is reached at, as Twilio signs for the URL it calls.
    signature = TwilioSignatureCheck(str(settings.twilio_auth_token), settings.public_url).sign("/twilio/sms", params)
    request = urllib.request.Request(  # noqa: S310  # an http(s) URL we were given
        base + "/twilio/sms",
        data=urllib.parse.urlencode(params).encode(),
        headers={SIGNATURE_HEADER: signature, "Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            click.echo(f"{response.status} {params['MessageSid']} from {mask_phone(params['From'])}")
    except urllib.error.HTTPError as exc:
        raise click.ClickException(f"the hotline answered {exc.code}: {exc.read().decode(errors='replace')}") from None
    except urllib.error.URLError as exc:
        raise click.ClickException(f"cannot reach the hotline at {base}: {exc.reason}") from None
