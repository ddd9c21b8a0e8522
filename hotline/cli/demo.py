"""`hotline demo`: the whole product on one laptop, with no Twilio account and nothing set up by hand."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.demo_care import furnish_demo_care
from dispatch.demo_history import DAYS as HISTORY_DAYS
from dispatch.demo_history import seed_history
from dispatch.models import Resident, StaffRole, StaffUser
from dispatch.models.base import set_clock, utcnow
from dispatch.register.demo import generate_demo_register
from dispatch.staff_accounts import add_user, set_password
from hotline.cli.base import embedded_redis, main, settings_or_exit, voice_script_or_exit, write_sessions
from hotline.cli.running_demo import DEMO_DIR, MARKER, RUNNING_FILE, announce_running_demo
from hotline.data_dir import local_secret
from hotline.private_files import keep_private
from hotline.settings_table import LOCAL_CHANNELS

if TYPE_CHECKING:
    from hotline.services import Services

KEPT_SIGN_IN = "demo_password"  # the file in the demo folder that keeps the demo account's password
DEMO_USER = "demo"
DEMO_NUMBER = "+8637166660000"  # the demo hotline's own number: what residents text and call
ANDROID_PHONE = "demo"  # the simulated Android phone's name: its webhooks post to /android/events?phone=demo
DAY_STARTS = "08:58"  # with --fast-clock, the simulated day starts two minutes before the 09:00 check-in
REGISTERED_AT = time_of_day(8, 0)  # a fresh demo's community was registered at this time, a fortnight ago


def _say_when_up(base: str, lines: list[str]) -> None:
    """Print `lines` once the web server answers /healthz (or after a minute, whatever it answers)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2):  # noqa: S310  # our own http URL
                break
        except OSError:
            time.sleep(0.2)
    click.echo("\n".join(lines))


def _prepare(data_dir: Path, reset: bool) -> None:
    if reset and data_dir.exists():
        if not (data_dir / MARKER).is_file():
            raise click.ClickException(f"{data_dir} is not a demo folder (no {MARKER}); not wiping it")
        shutil.rmtree(data_dir)
    if data_dir.exists() and any(data_dir.iterdir()) and not (data_dir / MARKER).is_file():
        raise click.ClickException(f"{data_dir} holds something else; give the demo an empty or new --data-dir")
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / MARKER).write_text("made by hotline demo\n")


def _channel_environment(data_dir: Path, channel: str) -> dict[str, str]:
    """The settings of the provider the local gateway stands in for: under tencent, the callback secret its URLs
    carry; under android, one phone and the key its webhooks are signed with. Each secret is made once and kept in
    the data dir (0600), like the demo's other secrets; nothing is ever sent to the phone's address."""
    found = {
        "HOTLINE_LOCAL_CHANNEL": channel,
        "HOTLINE_CALL_GATEWAY": "",  # the default: the local gateway's calls, or none where the channel has none
        "TENCENT_CALLBACK_SECRET": "",
        "TENCENT_SMS_SIGN_NAME": "",  # unset: each text keeps the sign its catalog text starts with
        "ANDROID_PHONES": "",
        "ANDROID_SIGNING_KEY": "",
    }
    if channel == "tencent":
        found["TENCENT_CALLBACK_SECRET"] = local_secret(data_dir, "tencent_callback_secret")
    if channel == "android":
        found["ANDROID_SIGNING_KEY"] = local_secret(data_dir, "android_signing_key")
        password = local_secret(data_dir, "android_phone_password")
        found["ANDROID_PHONES"] = f"{ANDROID_PHONE}=http://sms:{password}@127.0.0.1:8080"
    return found


def _environment(data_dir: Path, host: str, port: int, fast_clock: float | None, channel: str) -> dict[str, str]:
    """The demo's settings, over whatever the shell or .env says: embedded Redis and SQLite, the local gateway
    standing in for `channel`. Returns them, for a command run beside the demo to use too."""
    chosen = _channel_environment(data_dir, channel)
    chosen.update(
        {
            "HOTLINE_DATA_DIR": str(data_dir),
            "HOTLINE_GATEWAY": "local",
            "HOTLINE_PUBLIC_URL": f"http://{host}:{port}",
            "TWILIO_FROM_NUMBER": DEMO_NUMBER,
            "DATABASE_URL": "",
            "REDIS_URL": "",
            "TWILIO_ACCOUNT_SID": "",
            "TWILIO_AUTH_TOKEN": "",
            "TWILIO_MESSAGING_SERVICE_SID": "",
            # Quiet: warnings and errors only, unless the shell asks for more (HOTLINE_LOG_LEVEL=INFO).
            "HOTLINE_LOG_LEVEL": os.environ.get("HOTLINE_LOG_LEVEL") or "WARNING",
        }
    )
    os.environ.update(chosen)
    if fast_clock:
        from hotline.settings import load_settings

        zone = load_settings().timezone
        today = datetime.now(zone).date()
        start = datetime.combine(today, datetime.strptime(DAY_STARTS, "%H:%M").time(), zone)
        chosen["HOTLINE_CLOCK_SPEED"] = str(fast_clock)
        chosen["HOTLINE_CLOCK_START"] = f"{time.time()}@{start.timestamp()}"
        chosen["HOTLINE_SWEEP_SECONDS"] = "3"
        os.environ.update(chosen)
    return chosen


def _make_community(session: Session, residents: int) -> None:
    summary = generate_demo_register(session, residents=residents, seed=1, households_per_grid=30)
    click.echo(
        f"Made {summary.community}: {summary.grids} grids, {summary.liaisons} liaisons, "
        f"{summary.residents} residents ({summary.landline_residents} on landlines)"
    )


def _set_care(session: Session, services: Services, *, now: datetime, registered: datetime) -> None:
    today = now.astimezone(services.intake.timezone).date()
    care = furnish_demo_care(session, services.intake, staff_username=DEMO_USER, now=registered, today=today)
    if care is not None:
        click.echo(
            f"Set its care: {care.circles} care circles ({care.contacts} family members), {care.rings} ring to "
            f"check in, {care.hearing} hearing profiles, {care.medicines} on medicines, {care.access} households' "
            "access notes"
        )


@main.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=DEMO_DIR,
    show_default=True,
    help="Where the demo keeps its database and Redis; made if new.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--residents",
    default=120,
    show_default=True,
    type=click.IntRange(8, 5000),
    help="How many residents the generated community has.",
)
@click.option(
    "--fast-clock",
    type=click.FloatRange(2, 600),
    default=None,
    metavar="SPEED",
    help="Run the clock SPEED times faster, from 08:58 today: at 30, the day's check-ins, reminders, "
    "calls and visits play out in minutes.",
)
@click.option(
    "--channel",
    type=click.Choice(LOCAL_CHANNELS),
    default="twilio",
    show_default=True,
    help="The provider the demo behaves as: what it can do, the texts it sends (tencent: its approved templates), "
    "and what the simulator posts to which webhook, signed as that provider signs. Nothing leaves this machine.",
)
@click.option("--reset", is_flag=True, help="Start again from a fresh demo folder.")
def demo(
    data_dir: Path, host: str, port: int, residents: int, fast_clock: float | None, channel: str, reset: bool
) -> None:
    """Start the whole hotline with a generated community, the console and the phone simulator."""
    from hotline.cli.service import run_children, shortfall_lines
    from hotline.services import Services, install_clock

    data_dir = data_dir.expanduser().resolve()
    _prepare(data_dir, reset)
    keep_private(data_dir)
    chosen = _environment(data_dir, host, port, fast_clock, channel)
    settings = settings_or_exit()
    logging.getLogger().setLevel(settings.log_level)  # this process's own lines too
    voice_script_or_exit(settings)
    # Kept in the demo folder (0600) and printed again at each start: a restart does not sign anyone out of it.
    password = local_secret(data_dir, KEPT_SIGN_IN, make=lambda: secrets.token_urlsafe(9))
    # The clock the demo runs on (with a fast clock, the simulated day's start: registered at 09:01 on that clock,
    # residents would get no 09:00 check-in), and a fresh demo's community is registered a fortnight before it, so
    # that the fortnight's made-up past (`seed_history`) has residents to check in on.
    install_clock(settings)
    if settings.clock_start is not None:
        day_start = datetime.fromtimestamp(settings.clock_start[1], UTC)
        set_clock(lambda: day_start)
    now = utcnow()
    registered = datetime.combine(
        now.astimezone(settings.timezone).date() - timedelta(days=HISTORY_DAYS + 1), REGISTERED_AT, settings.timezone
    )
    with embedded_redis(settings) as server:
        sessions = write_sessions(settings)
        with sessions.begin() as session:
            fresh = not session.scalar(select(func.count(Resident.id)))
        # Only on a fresh demo: the community, the care its staff set, and the past played once. A restart keeps
        # what happened, and never sets the care or plays the past again.
        services = Services.build(settings) if fresh else None  # first: it installs the settings' clock
        if fresh:
            set_clock(lambda: registered)
        try:
            with sessions.begin() as session:
                if services is not None:
                    _make_community(session, residents)
                if session.scalar(select(StaffUser.id).where(StaffUser.username == DEMO_USER)) is None:
                    add_user(
                        session, username=DEMO_USER, display_name="演示管理员", password=password, role=StaffRole.ADMIN
                    )
                else:
                    set_password(session, DEMO_USER, password)  # the kept one, whatever it was changed to since
                if services is not None:  # in the register's transaction, as its staff account
                    _set_care(session, services, now=now, registered=registered)
            if services is not None:
                click.echo(f"Playing the last {HISTORY_DAYS} days, once ...")
                seeded = seed_history(
                    sessions, services.intake, now=now, hotline_phone=DEMO_NUMBER, staff_username=DEMO_USER
                )
                if seeded is not None:
                    click.echo(
                        f"Played the last {HISTORY_DAYS} days: {seeded.checkins} check-ins, {seeded.tasks} tasks, "
                        f"{seeded.messages} messages in"
                    )
        finally:
            if services is not None:
                services.close()
        install_clock(settings)
        base = settings.public_url
        lines = [
            "",
            f"  Data:       {data_dir}",
            f"  Channel:    {channel}",
            *(f"  {line}" for line in shortfall_lines(settings)),
            *([f"  Fast clock: {fast_clock:g}x, the day starts at {DAY_STARTS}"] if fast_clock else []),
            f"  Console:    {base}/board",
            f"  Simulator:  {base}/simulator",
            f"  Sign in:    {DEMO_USER} / {password}   (Ctrl-C stops everything)",
            "",
        ]
        # Last, once the web server answers: what a person needs is the final thing on the screen, not buried under
        # the processes' start-up lines.
        threading.Thread(target=_say_when_up, args=(base, lines), daemon=True).start()
        announce_running_demo(data_dir, base, chosen)
        try:
            code = run_children(settings, host, port, server)
        finally:
            (data_dir / RUNNING_FILE).unlink(missing_ok=True)
    raise SystemExit(code)
