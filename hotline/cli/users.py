"""Staff accounts: users add, list, password, sign-out, deactivate."""

from __future__ import annotations

import sys

import click
from sqlalchemy import select

from dispatch.models import StaffRole, StaffUser
from dispatch.staff_accounts import add_user, end_sessions, set_password
from hotline.cli.base import domain_errors, main, read_sessions, settings_or_exit, write_sessions

ROLES = [role.value for role in StaffRole]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@main.group()
def users() -> None:
    """Staff accounts for the console."""


@users.command("add")
@click.argument("username")
@click.option("--name", "display_name", default="", help="The name shown in the console and the audit log.")
@click.option("--role", type=click.Choice(ROLES), required=True, help="admin, clerk (one community), grid_leader.")
@click.option("--community", help="A clerk's community, by name.")
@click.option("--grid", help="A grid leader's grid: its name, or community/grid.")
@click.option("--language", type=click.Choice(["zh-CN", "en"]), default="zh-CN", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@domain_errors
def users_add(
    username: str,
    display_name: str,
    role: str,
    community: str | None,
    grid: str | None,
    language: str,
    password_stdin: bool,
) -> None:
    """Add a staff account; asks for the password unless --password-stdin."""
    settings = settings_or_exit()
    password = _password(password_stdin)
    with write_sessions(settings).begin() as session:
        user = add_user(
            session,
            username=username,
            display_name=display_name,
            password=password,
            role=StaffRole(role),
            community=community,
            grid=grid,
            language=language,
        )
        click.echo(f"added {user.username} ({user.role})")


@users.command("password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@domain_errors
def users_password(username: str, password_stdin: bool) -> None:
    """Set a new password for an account."""
    settings = settings_or_exit()
    password = _password(password_stdin)
    with write_sessions(settings).begin() as session:
        set_password(session, username, password)
    click.echo(f"password changed for {username.lower()}")


@users.command("sign-out")
@click.argument("username")
@domain_errors
def users_sign_out(username: str) -> None:
    """End every console session of an account, on every device (a lost phone, a shared computer left signed
    in). The account can sign in again at once."""
    settings = settings_or_exit()
    with write_sessions(settings).begin() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == username.lower()))
        if user is None:
            raise click.ClickException(f"no account {username!r}")
        end_sessions(session, user.id)
    click.echo(f"ended every session of {username.lower()}")


@users.command("deactivate")
@click.argument("username")
@domain_errors
def users_deactivate(username: str) -> None:
    """Stop an account from signing in; its sessions end at their next request."""
    settings = settings_or_exit()
    with write_sessions(settings).begin() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == username.lower()))
        if user is None:
            raise click.ClickException(f"no account {username!r}")
        user.active = False
    click.echo(f"deactivated {username.lower()}")


@users.command("list")
def users_list() -> None:
    """Every account: username, role, active, last sign-in."""
    settings = settings_or_exit()
    with read_sessions(settings)() as session:
        for user in session.scalars(select(StaffUser).order_by(StaffUser.username)):
            last = user.last_login_at.isoformat(timespec="minutes") if user.last_login_at else "-"
            state = "active" if user.active else "inactive"
            click.echo(f"{user.username}\t{user.display_name}\t{user.role}\t{state}\t{last}")
