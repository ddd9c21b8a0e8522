"""`hotline db backup`, `db restore` and `db digest`: the database to a file and back, and its checksum."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hotline.cli.base import domain_errors, settings_or_exit
from hotline.cli.progress import TerminalBars

# The tables `backup` and `restore` name; the others are summed.
MAIN_TABLES = (
    "communities",
    "households",
    "residents",
    "liaisons",
    "staff_users",
    "tasks",
    "task_events",
    "inbound_messages",
    "outbound_messages",
    "checkins",
    "calls",
    "audit_log",
)


def rows_line(counts: dict[str, int]) -> str:
    main = ", ".join(f"{name} {counts[name]}" for name in MAIN_TABLES if name in counts)
    others = {name: rows for name, rows in counts.items() if name not in MAIN_TABLES}
    return f"rows: {main}; {sum(others.values())} in {len(others)} other tables"


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@domain_errors
def db_backup(file: Path) -> None:
    """Write a backup of the whole database to FILE (a new file), while the hotline runs.

    SQLite: a copy made with SQLite's online backup API, itself a SQLite file. PostgreSQL: `pg_dump
    --format=custom` of one snapshot (pg_dump must be on PATH). Either way FILE appears only once complete."""
    from dispatch.backup import backup

    settings = settings_or_exit()
    with TerminalBars(settings.language) as bars:
        info = backup(settings.database_url, file, progress=bars)
    click.echo(f"backup written to {info.path}: {info.size:,} bytes, schema revision {info.revision}")
    click.echo(rows_line(info.counts))


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that holds rows (they are lost).")
@domain_errors
def db_restore(file: Path, force: bool) -> None:
    """Replace the database with the backup FILE, then migrate it to this version's schema.

    Stop the hotline first (run, serve, worker, scheduler): on SQLite the database file is swapped under it, and
    a database still open elsewhere is refused. On PostgreSQL the restore is one transaction (pg_restore and psql
    must be on PATH). Refused, with nothing changed: a database that holds rows (unless --force), a damaged file,
    and a backup made by a newer version of the hotline."""
    from dispatch.backup import restore
    from dispatch.backup_common import describe

    settings = settings_or_exit()
    url = settings.database_url
    with TerminalBars(settings.language) as bars:
        restored = restore(url, file, force=force, progress=bars)
    click.echo(f"restored {file} (schema revision {restored.backup_revision}) into {describe(url)}")
    if restored.revision != restored.backup_revision:
        click.echo(f"schema upgraded from revision {restored.backup_revision} to {restored.revision}")
    click.echo(rows_line(restored.counts))


@click.command("digest")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of lines.")
@domain_errors
def db_digest(as_json: bool) -> None:
    """Rows and a SHA-256 of each table, the same on SQLite and PostgreSQL for the same data.

    Compare two databases (a backup restored elsewhere, a copy to another store) by comparing their digests.
    Reads one snapshot; the hotline may run meanwhile."""
    from dispatch.backup_common import code_head, describe, revision_of
    from dispatch.db import make_engine
    from dispatch.db_digest import combined_digest, table_digests

    url = settings_or_exit().database_url
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            revision = revision_of(conn)
        if revision != code_head():
            found = f"is at schema revision {revision}" if revision else "has no hotline schema"
            raise click.ClickException(
                f"the database {describe(url)} {found}, this version's is {code_head()}: run `hotline db upgrade`"
            )
        digests = table_digests(engine)
    finally:
        engine.dispose()
    total = combined_digest(digests)
    if as_json:
        tables = {name: {"rows": rows, "sha256": sha} for name, (rows, sha) in digests.items()}
        click.echo(json.dumps({"revision": revision, "tables": tables, "all": total}, sort_keys=True))
        return
    click.echo(f"schema revision {revision}")
    for name, (rows, sha) in digests.items():
        click.echo(f"{name}\t{rows}\t{sha}")
    click.echo(f"all\t{sum(rows for rows, _ in digests.values())}\t{total}")
