"""Keeping the register: liaisons, residents, communities, grids, directory; CSV import and export; coverage."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dispatch import community_channels, register
from dispatch.community_channels import CommunityChoice
from dispatch.models import Channel, Community, DirectoryEntry, DirectoryKind, LiaisonRole
from dispatch.phones import mask_phone, parse_register_phone
from dispatch.register.places_admin import add_directory_entry
from dispatch.tokens import CLI
from hotline.cli.base import domain_errors, main, read_sessions, settings_or_exit, write_sessions
from hotline.cli.checkins import cli_services
from hotline.cli.progress import TerminalBars
from hotline.cli.service import shortfall_lines
from hotline.handover import Decided, hand_over
from hotline.settings import Settings


@main.group()
def liaisons() -> None:
    """Liaisons: the people who take errands by SMS."""


@liaisons.command("add")
@click.option("--name", required=True, help="The liaison's name, as residents know them.")
@click.option("--phone", required=True, help="Mobile number; national numbers are read in HOTLINE_REGION.")
@click.option("--role", type=click.Choice([r.value for r in LiaisonRole]), default="volunteer", show_default=True)
@domain_errors
def liaisons_add(name: str, phone: str, role: str) -> None:
    """Add a liaison."""
    settings = settings_or_exit()
    with write_sessions(settings).begin() as session:
        liaison = register.add_liaison(session, name=name, phone=phone, region=settings.region, role=LiaisonRole(role))
        click.echo(f"liaison {liaison.id} {liaison.name} {liaison.phone}")


@liaisons.command("list")
def liaisons_list() -> None:
    """List liaisons."""
    settings = settings_or_exit()
    with read_sessions(settings)() as session:
        for liaison in register.list_liaisons(session):
            state = "active" if liaison.active else "inactive"
            click.echo(f"{liaison.id}\t{liaison.name}\t{liaison.phone or '-'}\t{liaison.role}\t{state}")


@liaisons.command("deactivate")
@click.option("--phone", required=True, help="The liaison's phone number.")
@domain_errors
def liaisons_deactivate(phone: str) -> None:
    """Stop a liaison: their households pass to their backups; those without one are listed. Their open errands
    are offered to the household's new liaison, or climb the ladder."""
    with cli_services() as services:
        with services.sessions.begin() as session:
            liaison = register.liaison_by_phone_or_fail(session, phone, services.settings.region)
            result = register.deactivate_liaison(
                session, liaison, actor=CLI, now=services.clock(), context=services.intake
            )
            lines = [f"liaison {liaison.name} deactivated"]
            for household in result.moved_to_backup:
                backup = household.primary_liaison.name if household.primary_liaison else "-"
                lines.append(f"  moved to backup {backup}: {register.describe_address(household)}")
            for household in result.uncovered:
                lines.append(f"  UNCOVERED, assign a liaison: {register.describe_address(household)}")
            for task, to in result.errands:
                lines.append(f"  task #{task.id} passes to {to.name if to else 'the next rung of the ladder'}")
        hand_over(services.redis, Decided(sends=result.outbound))
    for line in lines:
        click.echo(line)


@main.group()
def residents() -> None:
    """Residents in the register."""


@residents.command("add")
@click.option("--name", required=True, help="The resident's name.")
@click.option(
    "--phone", "phones", required=True, multiple=True, help="A number; repeat for more. First is tried first."
)
@click.option("--liaison", "liaison_phone", default=None, help="Phone number of the household's liaison.")
@click.option("--backup-liaison", "backup_phone", default=None, help="Phone number of the household's backup liaison.")
@click.option("--community", default=None)
@click.option("--building", default=None)
@click.option("--unit", default=None)
@click.option("--room", default=None)
@click.option("--language", type=click.Choice(["zh-CN", "en"]), default="zh-CN", show_default=True)
@click.option(
    "--channel",
    type=click.Choice([c.value for c in Channel]),
    default=None,
    help="Default: voice for a landline, sms otherwise.",
)
@domain_errors
def residents_add(
    name: str,
    phones: tuple[str, ...],
    liaison_phone: str | None,
    backup_phone: str | None,
    community: str | None,
    building: str | None,
    unit: str | None,
    room: str | None,
    language: str,
    channel: str | None,
) -> None:
    """Add a resident to the household at an address, with its liaison."""
    settings = settings_or_exit()
    with write_sessions(settings).begin() as session:
        resident = register.add_resident(
            session,
            name=name,
            phones=phones,
            liaison_phone=liaison_phone,
            backup_liaison_phone=backup_phone,
            address=register.Address(community, building, unit, room),
            region=settings.region,
            language=language,
            channel=Channel(channel) if channel else None,
        )
        liaison_name = resident.liaison.name if resident.liaison else "-"
        click.echo(f"resident {resident.id} {resident.name} {resident.phone} {resident.channel} liaison {liaison_name}")


@residents.command("list")
def residents_list() -> None:
    """List residents: id, name, numbers, channel, address, liaison."""
    settings = settings_or_exit()
    with read_sessions(settings)() as session:
        for resident in register.list_residents(session):
            liaison = resident.liaison.name if resident.liaison else "-"
            numbers = ";".join(p.phone for p in resident.phones)
            address = register.describe_address(resident.household)
            click.echo(f"{resident.id}\t{resident.name}\t{numbers}\t{resident.channel}\t{address}\t{liaison}")


@main.group()
def communities() -> None:
    """Communities, their duty phone and clerk."""


@communities.command("add")
@click.option("--name", required=True)
@click.option("--duty-phone", default=None, help="The number callers are put through to when no liaison answers.")
@click.option("--clerk-name", default=None)
@click.option("--clerk-phone", default=None)
@domain_errors
def communities_add(name: str, duty_phone: str | None, clerk_name: str | None, clerk_phone: str | None) -> None:
    """Add a community, or update its duty phone and clerk."""
    settings = settings_or_exit()
    with write_sessions(settings).begin() as session:
        community = register.find_or_create_community(session, name)
        if duty_phone:
            community.duty_phone = parse_register_phone(duty_phone, settings.region).e164
        if clerk_name:
            community.clerk_name = clerk_name
        if clerk_phone:
            community.clerk_phone = parse_register_phone(clerk_phone, settings.region).e164
        click.echo(f"community {community.id} {community.name} duty {mask_phone(community.duty_phone)}")


@communities.command("channels")
@click.option("--name", required=True, help="The community.")
@click.option("--sms", default=None, help="Its SMS gateway, one of HOTLINE_GATEWAY and HOTLINE_GATEWAYS; 'default'.")
@click.option("--calls", default=None, help="Its call gateway, or 'none'; 'default': HOTLINE_CALL_GATEWAY.")
@domain_errors
def communities_channels(name: str, sms: str | None, calls: str | None) -> None:
    """Choose the gateways a community's SMS and calls go through, or show them. 'default' goes back to the
    hotline's own."""
    settings = settings_or_exit()
    with write_sessions(settings).begin() as session:
        community = session.scalar(select(Community).where(Community.name == name))
        if community is None:
            raise click.ClickException(f"no community {name!r}")
        wanted = CommunityChoice(
            community.sms_gateway if sms is None else (None if sms == "default" else sms),
            community.call_gateway if calls is None else (None if calls == "default" else calls),
        )
        community_channels.choose(
            session,
            community.id,
            wanted,
            sms_choices=set(settings.gateways),
            call_choices=set(settings.call_gateways),
        )
        click.echo(
            f"community {community.id} {community.name} sms {community.sms_gateway or f'default ({settings.gateway})'}"
            f" calls {community.call_gateway or f'default ({settings.call_gateway})'}"
        )
        for line in shortfall_lines(settings, community.sms_gateway, community.call_gateway):
            click.echo(line)


@main.group()
def grids() -> None:
    """Grids (网格) of a community, with their leaders."""


@grids.command("add")
@click.option("--community", required=True)
@click.option("--name", required=True)
@click.option("--leader-name", default=None)
@click.option("--leader-phone", default=None)
@domain_errors
def grids_add(community: str, name: str, leader_name: str | None, leader_phone: str | None) -> None:
    """Add a grid to a community, or update its leader."""
    settings = settings_or_exit()
    with write_sessions(settings).begin() as session:
        grid = register.find_or_create_grid(session, register.find_or_create_community(session, community), name)
        if leader_name:
            grid.leader_name = leader_name
        if leader_phone:
            grid.leader_phone = parse_register_phone(leader_phone, settings.region).e164
        click.echo(f"grid {grid.id} {community} {grid.name} leader {grid.leader_name or '-'}")


@main.group()
def directory() -> None:
    """Hospital, health centre and pharmacy numbers the hotline reads out."""


@directory.command("add")
@click.option("--community", required=True)
@click.option("--kind", type=click.Choice([k.value for k in DirectoryKind]), required=True)
@click.option("--name", required=True)
@click.option("--phone", required=True)
@domain_errors
def directory_add(community: str, kind: str, name: str, phone: str) -> None:
    """Add a directory entry to a community."""
    settings = settings_or_exit()
    with write_sessions(settings).begin() as session:
        entry, _ = add_directory_entry(
            session, register.find_or_create_community(session, community), kind, name, phone, settings.region
        )
        click.echo(f"directory {entry.id} {community} {kind} {name}")


@directory.command("list")
def directory_list() -> None:
    """List every community's directory."""
    settings = settings_or_exit()
    with read_sessions(settings)() as session:
        for entry in session.scalars(select(DirectoryEntry).order_by(DirectoryEntry.community_id, DirectoryEntry.id)):
            click.echo(f"{entry.community_id}\t{entry.kind}\t{entry.name}\t{entry.phone}")


TABLES = click.Choice(["residents", "liaisons"])


@main.command("import")
@click.argument("table", type=TABLES)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and show what would change; change nothing.")
def import_(table: str, file: Path, dry_run: bool) -> None:
    """Import a register file: CSV (UTF-8, UTF-8 with BOM or GB18030) or an .xlsx workbook's first sheet;
    Chinese or English headers.

    Every row is checked first. If any is bad, nothing is imported and each bad row is listed.
    """
    if table == "residents":
        settings = settings_or_exit()
        _import_file(settings, register.import_residents, write_sessions(settings), file, dry_run)
        return
    with cli_services() as services:  # a liaison marked not active passes their open errands on, by SMS
        importer = partial(register.import_liaisons, actor=CLI, now=services.clock(), context=services.intake)
        outbound = _import_file(services.settings, importer, services.sessions, file, dry_run)
        hand_over(services.redis, Decided(sends=outbound))


def _import_file(
    settings: Settings,
    importer: Callable[..., register.ImportReport],
    sessions: sessionmaker[Session],
    file: Path,
    dry_run: bool,
) -> list[int]:
    """Import `file` with `importer` and say what it did; returns the SMS it decided, once committed."""
    vocabulary = register.Vocabulary.load()
    with sessions() as session:
        with TerminalBars(settings.language) as bars:
            report = importer(session, file.read_bytes(), region=settings.region, vocabulary=vocabulary, progress=bars)
        if not report.ok:
            session.rollback()
            for error in report.errors:
                click.echo(str(error), err=True)
            raise click.ClickException(f"{len(report.errors)} problem(s) in {file.name}; nothing was imported")
        summary = f"{len(report.created)} new, {len(report.updated)} updated, {len(report.unchanged)} unchanged"
        uncovered = [register.describe_address(h) for d in report.deactivations for h in d.uncovered]
        if dry_run:
            session.rollback()
            for label, lines in (("new", report.created), ("updated", report.updated)):
                if lines:
                    click.echo(f"would be {label}: lines {', '.join(map(str, lines))}")
            for address in uncovered:
                click.echo(f"  would be UNCOVERED: {address}")
            click.echo(f"dry run: {summary}; nothing was changed")
            return []
        session.commit()
        click.echo(f"imported {file.name}: {summary}")
        for address in uncovered:
            click.echo(f"  UNCOVERED, assign a liaison: {address}")
        return [sms for d in report.deactivations for sms in d.outbound]


@main.command("export")
@click.argument("table", type=TABLES)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--headers", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
def export(table: str, file: Path, headers: str) -> None:
    """Write the register in the format `hotline import` reads: an .xlsx workbook when FILE ends in .xlsx,
    otherwise CSV in UTF-8 with BOM (Excel opens it)."""
    settings = settings_or_exit()
    vocabulary = register.Vocabulary.load()
    exporter = register.export_residents if table == "residents" else register.export_liaisons
    fmt: register.FileFormat = "xlsx" if file.suffix.lower() == ".xlsx" else "csv"
    with read_sessions(settings)() as session:
        file.write_bytes(exporter(session, vocabulary, 0 if headers == "zh" else 1, settings.region, fmt=fmt))
    click.echo(f"wrote {file}")


@main.command()
@click.option(
    "--max-load",
    default=register.DEFAULT_MAX_LOAD,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="The most households one liaison should serve.",
)
@click.option("--json", "as_json", is_flag=True)
def assign(max_load: int, as_json: bool) -> None:
    """Check coverage: households without a liaison, liaisons over their load, liaisons without a phone.

    Exits 1 if there is any gap, so a script can tell.
    """
    settings = settings_or_exit()
    with read_sessions(settings)() as session:
        report = register.coverage_report(session, max_load)
        uncovered = [register.describe_address(h) for h in report.households_without_liaison]
        found = {
            "households_without_liaison": uncovered,
            "liaisons_over_load": [{"name": x.name, "phone": x.phone, "households": n} for x, n in report.overloaded],
            "liaisons_without_phone": [x.name for x in report.liaisons_without_phone],
            "households_without_backup": report.households_without_backup,
        }
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False))
    else:
        click.echo(f"households without a liaison: {len(uncovered)}")
        for address in uncovered:
            click.echo(f"  {address}")
        click.echo(f"liaisons over {max_load} households: {len(report.overloaded)}")
        for liaison, count in report.overloaded:
            click.echo(f"  {liaison.name} {mask_phone(liaison.phone)}: {count}")
        click.echo(f"liaisons without a phone: {len(report.liaisons_without_phone)}")
        for liaison in report.liaisons_without_phone:
            click.echo(f"  {liaison.name}")
        click.echo(f"households without a backup liaison: {report.households_without_backup}")
    if report.has_gaps:
        raise SystemExit(1)


@main.command("demo-data")
@click.option("--residents", "count", default=200, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--community", default="幸福里社区", show_default=True)
@domain_errors
def demo_data(count: int, seed: int, community: str) -> None:
    """Add a generated community, the same for the same seed: buildings, grids, liaisons, residents."""
    from dispatch.register.demo import generate_demo_register

    settings = settings_or_exit()
    with write_sessions(settings).begin() as session:
        if session.scalar(select(Community.id).where(Community.name == community)) is not None:
            raise click.ClickException(f"community {community} already exists; pick another --community")
        with TerminalBars(settings.language) as bars:
            summary = generate_demo_register(
                session, residents=count, seed=seed, community_name=community, progress=bars
            )
    click.echo(
        f"{summary.community}: {summary.grids} grids, {summary.liaisons} liaisons, {summary.households} households, "
        f"{summary.residents} residents ({summary.landline_residents} on landlines)"
    )
