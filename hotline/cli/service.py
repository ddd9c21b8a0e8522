"""Running the service: serve, worker, scheduler, run, db upgrade."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click
from redis.exceptions import RedisError

from dispatch.channels import CHANNELS, shortfalls
from hotline import error_reports
from hotline.cli.backup import db_backup, db_digest, db_restore
from hotline.cli.base import (
    embedded_redis,
    main,
    migrate,
    settings_or_exit,
    voice_script_errors,
    voice_script_or_exit,
)
from hotline.embedded_redis import EmbeddedRedis
from hotline.logs import configure_logging
from hotline.private_files import keep_private
from hotline.settings import Settings
from hotline.webhooks import paths

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("hotline")
FAST_CLOCK_TICK_SECONDS = 3


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
def serve(host: str, port: int) -> None:
    """Run the web server: Twilio's webhooks, the console and the API."""
    import uvicorn

    from hotline.app import create_app
    from hotline.heap import settle_heap
    from hotline.logs import uvicorn_options

    settings = settings_or_exit(beside_demo=False)
    configure_logging(
        "web", settings.log_format, settings.log_level
    )  # while starting; uvicorn applies the same configuration
    error_reports.start(settings, "web")  # if SENTRY_DSN is set
    with embedded_redis(settings):
        migrate(settings)
        with voice_script_errors(settings):
            app = create_app(settings)
        settle_heap()  # what starting made, out of the collector's scans; fewer collections per request
        options = uvicorn_options(settings.log_format, "web", settings.forwarded_allow_ips, settings.log_level)
        uvicorn.run(app, host=host, port=port, **options)


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker(burst: bool) -> None:
    """Run an RQ worker on the hotline's queues."""
    from hotline import services as services_module
    from hotline.jobs.worker import build_worker
    from workers.queues import register_worker_home

    settings = settings_or_exit(beside_demo=False)
    configure_logging("worker", settings.log_format, settings.log_level)
    error_reports.start(settings, "worker")  # if SENTRY_DSN is set
    with embedded_redis(settings):
        with voice_script_errors(settings):
            services = services_module.Services.build(settings)
        services_module.install(services)
        try:
            # Jobs run in this process (see build_worker); `hotline run` restarts a worker that dies.
            rq_worker = build_worker(services.redis)
            register_worker_home(services.redis, rq_worker.name)  # so a sweep here can tell if it dies
            rq_worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
        finally:
            services_module.install(None)
            services.close()


@main.command()
def scheduler() -> None:
    """Run the periodic jobs: the sweeper that re-queues work Redis lost, the check-in tick, and the start of
    notices scheduled for later."""
    from rq.cron import CronScheduler
    from rq.exceptions import StopRequested

    from hotline.jobs.checkins import CHECKIN_TICK_SECONDS, checkin_tick
    from hotline.jobs.medicines import medicine_tick
    from hotline.jobs.notices import start_due_notices
    from hotline.jobs.sweeper import sweep
    from hotline.services import connect_redis
    from workers.queues import MAINTENANCE

    settings = settings_or_exit(beside_demo=False)
    configure_logging("scheduler", settings.log_format, settings.log_level)
    error_reports.start(settings, "scheduler")  # if SENTRY_DSN is set
    with embedded_redis(settings):
        redis = connect_redis(settings)
        stopping: list[int] = []

        class Cron(CronScheduler):
            def _request_stop(self, signum: int, frame: object) -> None:
                stopping.append(signum)  # remembered: a Redis error on the way out must not swallow it
                super()._request_stop(signum, frame)  # type: ignore[no-untyped-call]

        while not stopping:
            cron = Cron(connection=redis)
            cron.register(sweep, queue_name=MAINTENANCE, interval=settings.sweep_interval_seconds, result_ttl=0)
            # A demo's fast clock runs a day in minutes: the tick comes often enough to keep up with it.
            tick = CHECKIN_TICK_SECONDS if settings.clock_speed == 1 else FAST_CLOCK_TICK_SECONDS
            cron.register(checkin_tick, queue_name=MAINTENANCE, interval=tick, result_ttl=0)
            cron.register(start_due_notices, queue_name=MAINTENANCE, interval=tick, result_ttl=0)
            cron.register(medicine_tick, queue_name=MAINTENANCE, interval=tick, result_ttl=0)
            try:
                cron.start()  # type: ignore[no-untyped-call]
                return  # stopped by a signal
            except RedisError as exc:
                if stopping:
                    return  # asked to stop, and Redis failed while the scheduler said goodbye
                # Redis is down or restarting: wait for it rather than die; the work is safe in the database.
                log.error("scheduler: Redis unavailable (%s); retrying in 2s", type(exc).__name__)
                try:
                    time.sleep(2)
                except StopRequested:
                    return


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
def run(host: str, port: int) -> None:
    """Run everything on one machine: Redis (if embedded), the web server, a worker and the scheduler."""
    settings = settings_or_exit(beside_demo=False)
    configure_logging(
        "supervisor", settings.log_format, settings.log_level
    )  # the children set up their own, from the same settings
    keep_private(settings.data_dir)
    voice_script_or_exit(settings)
    with embedded_redis(settings) as server:
        migrate(settings)
        others = f"; communities may choose {', '.join(settings.other_gateways)}" if settings.other_gateways else ""
        click.echo(f"Hotline is running on http://{host}:{port}  (gateway: {settings.gateway}{others})")
        click.echo(f"Twilio SMS webhooks: {settings.callback_url(paths.SMS)}  {settings.callback_url(paths.STATUS)}")
        click.echo(
            f"Twilio voice webhooks: {settings.callback_url(paths.VOICE)}  "
            f"status callback {settings.callback_url(paths.VOICE_STATUS)}"
        )
        if "tencent" in settings.gateways:  # set in Tencent's SMS console, each with ?s=TENCENT_CALLBACK_SECRET
            click.echo(
                f"Tencent SMS callbacks: replies {settings.callback_url(paths.Tencent.REPLY)}?s=<secret>  "
                f"delivery reports {settings.callback_url(paths.Tencent.STATUS)}?s=<secret>"
            )
        if settings.call_gateway == "tencent":  # set in Tencent's voice messages console (事件回调配置)
            click.echo(f"Tencent voice callbacks: {settings.callback_url(paths.Tencent.VOICE)}?s=<secret>")
        for phone in settings.android_phones if "android" in settings.gateways else ():
            click.echo(
                f"Android phone {phone.name} webhooks: {settings.callback_url(paths.android_events_path(phone.name))}"
            )
        if settings.httpsms_signing_key is not None:  # httpSMS's webhook, only message.call.missed
            click.echo(f"httpSMS missed-call webhook: {settings.callback_url(paths.HTTPSMS_EVENTS)}")
        for line in shortfall_lines(settings):
            click.echo(line)
        code = run_children(settings, host, port, server)
    raise SystemExit(code)


def shortfall_lines(settings: Settings, sms: str | None = None, calls: str | None = None) -> list[str]:
    """What this hotline's channels (or the `sms` and `calls` gateways a community chose) cannot do, and what it
    does instead, in the staff's language: said at start, and when a community chooses."""
    from hotline.console.render import CONSOLE_TEXTS  # with Jinja: only for a start, not for every command

    lost = shortfalls(
        CHANNELS[settings.channel_of(sms or settings.gateway)],
        CHANNELS[settings.channel_of(calls or settings.call_gateway)],
    )
    return [f"! {CONSOLE_TEXTS.render(item.instead, settings.language)}" for item in lost]


def run_children(settings: Settings, host: str, port: int, server: EmbeddedRedis | None) -> int:
    """The web server, a worker and the scheduler under one supervisor, until Ctrl-C; returns the exit code."""
    from hotline.services import redis_url
    from hotline.supervisor import Child, Supervisor, child_env, hotline_command

    children = [
        Child("web", hotline_command("serve", "--host", host, "--port", str(port)), critical=True),
        Child("worker", hotline_command("worker")),
        Child("scheduler", hotline_command("scheduler")),
    ]
    return Supervisor(children, child_env(redis_url(settings)), redis=server).run()


@main.group()
def db() -> None:
    """The database."""


db.add_command(db_backup)
db.add_command(db_restore)
db.add_command(db_digest)


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all database migrations."""
    settings = settings_or_exit()
    migrate(settings)
    click.echo("database is up to date")
