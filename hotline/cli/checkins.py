"""The daily check-in from the command line: plans, a tick, staff-triggered calls, and today's coverage."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import asdict
from datetime import date, timedelta

import click
from sqlalchemy import true

from dispatch.checkins.plans import clear_plan, set_plan
from dispatch.checkins.report import COLUMNS, coverage
from dispatch.checkins.staff_calls import Selection, call_residents, select_residents
from dispatch.models import CheckinPlan, utcnow
from hotline.cli.base import domain_errors, embedded_redis, main, migrate, settings_or_exit
from hotline.cli.progress import TerminalBars
from hotline.services import Services, install


@contextlib.contextmanager
def cli_services() -> Iterator[Services]:
    """The services a command that sends needs: the database migrated, Redis (embedded if so set), the clock."""
    settings = settings_or_exit()
    with embedded_redis(settings):
        migrate(settings)
        services = Services.build(settings)
        previous = install(services)
        try:
            yield services
        finally:
            install(previous)
            services.close()


@main.group()
def plan() -> None:
    """A resident's check-in plan (without one, their categories decide: 09:00, or twice a day under observation)."""


@plan.command("set")
@click.argument("resident_id", type=int)
@click.option("--times", required=True, help="Local times, comma-separated, e.g. 09:00,15:00; '' for none.")
@click.option("--channel", type=click.Choice(["sms", "voice"]), help="Default: the resident's own channel.")
@click.option("--from", "starts_on", type=click.DateTime(["%Y-%m-%d"]), help="First day (default: today).")
@click.option("--days", type=click.IntRange(1, 365), help="Ends by itself after this many days, e.g. 14.")
@click.option("--note", default="", help="Why, for the record.")
@domain_errors
def plan_set(resident_id: int, times: str, channel: str | None, starts_on: object, days: int | None, note: str) -> None:
    """Give a resident their own plan, e.g. an observation period: --times 09:00,15:00 --days 14."""
    with cli_services() as services, services.sessions.begin() as session:
        rules = services.intake.checkin
        first = starts_on.date() if starts_on else utcnow().astimezone(rules.timezone).date()  # type: ignore[attr-defined]
        ends = first + timedelta(days=days - 1) if days else None
        found = set_plan(
            session,
            rules,
            resident_id,
            times=[t for t in times.split(",") if t.strip()],
            channel=channel,
            starts_on=first,
            ends_on=ends,
            note=note,
            actor="cli",
            now=services.clock(),
        )
        click.echo(_describe(found))


@plan.command("clear")
@click.argument("resident_id", type=int)
@domain_errors
def plan_clear(resident_id: int) -> None:
    """Back to the plan of the resident's categories."""
    with cli_services() as services, services.sessions.begin() as session:
        cleared = clear_plan(session, services.intake.checkin, resident_id, services.clock())
    click.echo("plan cleared" if cleared else "the resident had no plan of their own")


def _describe(found: CheckinPlan) -> str:
    times = ",".join(found.times) or "no check-ins"
    until = f" until {found.ends_on}" if found.ends_on else ""
    return f"resident {found.resident_id}: {times} by {found.channel or 'their channel'} from {found.starts_on}{until}"


@main.group()
def checkins() -> None:
    """The daily check-in."""


@checkins.command("tick")
def checkins_tick() -> None:
    """Make today's check-ins, send those due and climb the ladder now (the scheduler does this every sweep)."""
    from hotline.jobs.checkins import checkin_tick

    with cli_services():
        counts = checkin_tick()
    click.echo(" ".join(f"{k}={v}" for k, v in counts.items()))


@main.command()
@click.argument("resident_ids", nargs=-1, type=int)
@click.option("--not-reached", is_flag=True, help="Everyone not reached today (and visits still pending).")
@click.option("--community", help="Everyone in this community.")
@click.option("--grid", help="Everyone in this grid.")
@click.option("--building", help="Everyone in this building.")
@click.option("--category", help="Everyone of this category, e.g. elderly_alone.")
@click.option("--yes", is_flag=True, help="Do not ask before calling more than one resident.")
@domain_errors
def call(
    resident_ids: tuple[int, ...],
    not_reached: bool,
    community: str | None,
    grid: str | None,
    building: str | None,
    category: str | None,
    yes: bool,
) -> None:
    """Place check-in calls now, to residents by id or to a set (filters combine), at the configured calls/s."""
    from hotline.handover import Decided, hand_over

    selection = Selection(resident_ids, not_reached, community, grid, building, category)
    if selection.empty:
        raise click.UsageError("name residents by id, or choose a set: --not-reached, --grid, --building, …")
    with cli_services() as services:
        now = services.clock()
        with services.readonly() as session:
            chosen = select_residents(session, selection, now, services.intake, where=true())  # the whole register
        if not chosen:
            click.echo("nobody to call")
            return
        if len(chosen) > 1 and not yes:
            rate = services.settings.calls_per_second
            pace = f", about {len(chosen) / rate:.0f} s at {rate:g} calls/s" if rate else ""
            click.confirm(f"Call {len(chosen)} residents{pace}?", abort=True)
        with services.sessions.begin() as session, TerminalBars(services.settings.language) as bars:
            done = call_residents(session, chosen, now, services.intake, actor="staff:cli", progress=bars)
        hand_over(services.redis, Decided(campaign=done.outbound_ids))
    click.echo(f"calling {len(done.called)}")
    for resident_id, why in sorted(done.skipped.items()):
        click.echo(f"  not called: resident {resident_id}: {why}")


@main.group()
def report() -> None:
    """Reports."""


@report.command("today")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="Another day (default: today).")
@click.option("--residents", is_flag=True, help="Also list every resident's standing, the unreached first.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def report_today(day: object, residents: bool, as_json: bool) -> None:
    """Check-in coverage per community and grid: due, fine, needs, unwell, not reached, visits, opted out."""
    settings = settings_or_exit()
    migrate(settings)
    with cli_services() as services, services.readonly() as session:
        now = services.clock()
        when: date = day.date() if day else now.astimezone(settings.timezone).date()  # type: ignore[attr-defined]
        found = coverage(session, when, now)
    if as_json:
        rows = [
            {"community": r.community, "grid": r.grid, **r.counts, "known_percent": round(r.known_percent, 1)}
            for r in [*found.rows, found.total]
        ]
        out = {"date": str(found.day), "rows": rows}
        if residents:
            out["residents"] = [asdict(r) for r in found.residents]
        click.echo(json.dumps(out, ensure_ascii=False))
        return
    click.echo(f"check-in coverage {found.day}")
    header = ["community", "grid", *COLUMNS, "known"]
    click.echo("  ".join(f"{h:>12}" for h in header))
    for row in [*found.rows, found.total]:
        cells = [row.community, row.grid, *(str(row.counts[c]) for c in COLUMNS), f"{row.known_percent:.0f}%"]
        click.echo("  ".join(f"{c:>12}" for c in cells))
    if residents:
        for r in found.residents:
            click.echo(
                f"  {r.standing:<13} {r.community}/{r.grid}  {r.name} (#{r.resident_id}) {r.slot} rung {r.rung}"
                + (f" task #{r.visit_task_id}" if r.visit_task_id else "")
            )
