"""`hotline db copy --to URL`: the whole database into another, empty one (SQLite to PostgreSQL, say)."""

from __future__ import annotations

import click

from hotline.cli.base import domain_errors, settings_or_exit
from hotline.cli.progress import TerminalBars
from hotline.cli.service import db

STOP_FIRST = (
    "the hotline must be stopped while it copies (run, serve, worker, scheduler): what arrives meanwhile would be "
    "missing from the copy"
)


@db.command("copy")
@click.option(
    "--to",
    "target",
    required=True,
    metavar="URL",
    help="The database to copy into, empty: postgresql+psycopg://user@host/dbname (postgresql:// means the "
    "same) or sqlite:////path/file.sqlite3.",
)
@domain_errors
def db_copy(target: str) -> None:
    """Copy the whole database (DATABASE_URL) into another, empty database: the register, the history, everything.

    Stop the hotline first (run, serve, worker, scheduler): the copy reads one snapshot of the database, so
    whatever arrives while it runs would be missing from the copy. The database must be at this version's schema
    (`hotline db upgrade`); the target is migrated to it first, and refused if any of its tables holds a row.

    The copy is one transaction on the target. Before it commits, both databases are digested table by table
    (as `hotline db digest` does); if any table differs, it is rolled back and the target holds nothing of it.
    Then point DATABASE_URL at the target and start the hotline again."""
    from dispatch.db_copy import copy_database

    click.echo(STOP_FIRST)
    settings = settings_or_exit()
    with TerminalBars(settings.language) as bars:
        copied = copy_database(settings.database_url, target, progress=bars)
    width = max(len(name) for name in copied.counts)
    click.echo(f"copied {copied.source} into {copied.target}, schema revision {copied.revision}:")
    for name, rows in copied.counts.items():
        click.echo(f"  {name:<{width}}  {rows:>9,}")
    total = sum(copied.counts.values())
    click.echo(f"{total:,} rows in {len(copied.counts)} tables; digests match, table by table (all {copied.digest})")
    click.echo("now set DATABASE_URL to the new database and start the hotline again")
