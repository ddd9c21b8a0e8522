"""API tokens: tokens create, list, revoke."""

from __future__ import annotations

from datetime import timedelta

import click
from click.core import ParameterSource

from dispatch.models import Community, Grid, StaffRole, utcnow
from dispatch.tokens import DEFAULT_LIFETIME, MAX_LIFETIME, create_token, is_expired, list_tokens, revoke_token
from hotline.cli.base import domain_errors, main, read_sessions, settings_or_exit, write_sessions

ROLES = [role.value for role in StaffRole]


@main.group()
def tokens() -> None:
    """Bearer tokens for the JSON API at /api/v1."""


@tokens.command("create")
@click.option("--name", required=True, help="What the token is for, e.g. the system that uses it.")
@click.option("--role", type=click.Choice(ROLES), required=True, help="admin, clerk (one community), grid_leader.")
@click.option("--community", help="A clerk token's community, by name.")
@click.option("--grid", help="A grid leader token's grid: its name, or community/grid.")
@click.option(
    "--expires-days",
    type=click.IntRange(1, MAX_LIFETIME.days),
    default=DEFAULT_LIFETIME.days,
    show_default=True,
    help="Refuse the token this many days from now.",
)
@click.option("--never-expires", is_flag=True, help="A token that never expires (revoke it when no longer needed).")
@domain_errors
def tokens_create(
    name: str, role: str, community: str | None, grid: str | None, expires_days: int, never_expires: bool
) -> None:
    """Issue a token and print its secret, once, alone on stdout: only a hash of it is kept."""
    source = click.get_current_context().get_parameter_source("expires_days")
    if never_expires and source is not ParameterSource.DEFAULT:
        raise click.UsageError("give --expires-days or --never-expires, not both")
    lifetime = None if never_expires else timedelta(days=expires_days)
    settings = settings_or_exit()
    with write_sessions(settings).begin() as session:
        token, secret = create_token(
            session, name=name, role=StaffRole(role), community=community, grid=grid, lifetime=lifetime
        )
        expiry = f"expires {token.expires_at.isoformat(timespec='minutes')}" if token.expires_at else "never expires"
        made = f"token {token.id} ({token.prefix}…) for {token.name!r}, role {token.role}, {expiry}"
    click.echo(made, err=True)
    click.echo(secret)  # alone on stdout, so a script can capture it
    click.echo(
        "Keep this secret now: it will not be shown again (only a hash of it is stored). "
        "Send it as the header 'Authorization: Bearer <secret>'.",
        err=True,
    )


@tokens.command("list")
def tokens_list() -> None:
    """Every token: id, prefix, name, role, scope, created, last used, expiry, and live, expired or revoked."""
    settings = settings_or_exit()
    now = utcnow()
    with read_sessions(settings)() as session:
        for token in list_tokens(session):
            scope = "-"
            if token.grid_id is not None:
                grid = session.get(Grid, token.grid_id)
                scope = f"grid {grid.name if grid else token.grid_id}"
            elif token.community_id is not None:
                community = session.get(Community, token.community_id)
                scope = f"community {community.name if community else token.community_id}"
            used = token.last_used_at.isoformat(timespec="minutes") if token.last_used_at else "never used"
            expires = f"expires {token.expires_at.isoformat(timespec='minutes')}" if token.expires_at else "no expiry"
            if token.revoked_at is not None:
                state = f"revoked {token.revoked_at.isoformat(timespec='minutes')}"
            else:
                state = "expired" if is_expired(token, now) else "live"
            created = token.created_at.isoformat(timespec="minutes")
            fields = [str(token.id), f"{token.prefix}…", token.name, token.role, scope, created, used, expires, state]
            click.echo("\t".join(fields))


@tokens.command("revoke")
@click.argument("token")
@domain_errors
def tokens_revoke(token: str) -> None:
    """Revoke a token, by its id or its prefix (as `tokens list` shows it); it is refused from now on."""
    settings = settings_or_exit()
    with write_sessions(settings).begin() as session:
        revoked = revoke_token(session, token.rstrip("…"))
        click.echo(f"revoked token {revoked.id} ({revoked.prefix}…) {revoked.name!r}")
