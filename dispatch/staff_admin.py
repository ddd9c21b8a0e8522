"""Admins keeping staff accounts and API tokens in the console, over the same functions as `hotline users` and
`hotline tokens` (`dispatch.staff_accounts`, `dispatch.tokens`).

Each change records one audit entry ("staff" or "token") in the caller's transaction, and a repeat of the same
request changes nothing: an account added again with the same details and password is the one already added; a
token form's key finds the token its first click made (whose secret was shown then, and never again); stopping
a stopped account or revoking a revoked token does nothing. An admin may not change their own role or stop
their own account, so the console never loses its last admin by a slip.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import audit
from dispatch.audit import Actor
from dispatch.exceptions import InvalidStaffUser, NotFound
from dispatch.models import ApiToken, Community, Grid, StaffRole, StaffUser
from dispatch.staff_accounts import add_user, password_matches, staff_scope
from dispatch.tokens import create_token, made_for_request, revoke_token


def list_staff(session: Session) -> list[StaffUser]:
    """Every account, active first, by username."""
    return list(session.scalars(select(StaffUser).order_by(StaffUser.active.desc(), StaffUser.username)))


def scope_names(session: Session) -> dict[tuple[str, int], str]:
    """Names of every community and grid, keyed ("community", id) and ("grid", id): what a list shows as scope."""
    names: dict[tuple[str, int], str] = {("community", c.id): c.name for c in session.scalars(select(Community))}
    for grid in session.scalars(select(Grid)):
        names[("grid", grid.id)] = f"{names.get(('community', grid.community_id), '')} {grid.name}".strip()
    return names


def scope_choices(session: Session) -> list[tuple[str, str, str]]:
    """The console's role-and-scope list as (value, role, place shown): "admin", then "clerk:<community id>" for
    each community, then "grid_leader:<grid id>" for each grid. Values carry ids, not names, so a name with a
    space or a slash reads back as the very place it names (`read_choice`)."""
    names = scope_names(session)
    choices = [("admin", "admin", "")]
    choices += [(f"clerk:{c.id}", "clerk", c.name) for c in session.scalars(select(Community).order_by(Community.name))]
    grids = session.scalars(select(Grid).join(Community).order_by(Community.name, Grid.name))
    choices += [(f"grid_leader:{g.id}", "grid_leader", names[("grid", g.id)]) for g in grids]
    return choices


def choice_of(role: str, community_id: int | None, grid_id: int | None) -> str:
    """The value of the role-and-scope list an account or token has now (as `scope_choices` makes them)."""
    if role == StaffRole.CLERK and community_id is not None:
        return f"clerk:{community_id}"
    if role == StaffRole.GRID_LEADER and grid_id is not None:
        return f"grid_leader:{grid_id}"
    return str(role)


def read_choice(session: Session, value: str) -> tuple[str, str, str]:
    """A value of the role-and-scope list as (role, community name, "community/grid") for `add_staff`,
    `set_staff_role` and `make_token`.

    Raises:
        InvalidStaffUser: no role chosen (never read as admin), an unknown role, a clerk without a community or a
            grid leader without a grid, or a place that does not exist.
    """
    role_value, _, place = value.strip().partition(":")
    if not role_value:
        raise InvalidStaffUser("choose a role and scope", "scope", "no_role")
    role = _role(role_value)
    if role is StaffRole.ADMIN:
        if place:
            raise InvalidStaffUser("an admin sees everything: choose no community or grid", "scope", "needless")
        return role.value, "", ""
    if not place:
        raise InvalidStaffUser("a clerk needs a community, a grid leader a grid", "scope", "required")
    if role is StaffRole.CLERK:
        community = session.get(Community, int(place)) if place.isdigit() else None
        if community is None:
            raise InvalidStaffUser(f"no community {place!r}", "community", "unknown")
        return role.value, community.name, ""
    grid = session.get(Grid, int(place)) if place.isdigit() else None
    if grid is None:
        raise InvalidStaffUser(f"no grid {place!r}", "grid", "unknown")
    return role.value, "", f"{grid.community.name}/{grid.name}"


@dataclass(frozen=True)
class StaffForm:
    """An account as the console's form gives it."""

    username: str
    display_name: str
    password: str
    role: str
    community: str = ""
    grid: str = ""
    language: str = "zh-CN"


def _role(value: str) -> StaffRole:
    if not value:
        raise InvalidStaffUser("choose a role and scope", "scope", "no_role")
    try:
        return StaffRole(value)
    except ValueError:
        raise InvalidStaffUser(f"role must be one of: {', '.join(StaffRole)}", "role", "unknown") from None


def add_staff(session: Session, actor: Actor, form: StaffForm) -> tuple[StaffUser, bool]:
    """Add an account; True if it is new, False if the very same one was added already (a second click).

    Raises:
        InvalidStaffUser: as `add_user`, with the field and a code for the page.
    """
    role = _role(form.role)
    community = form.community if role is StaffRole.CLERK else None
    grid = form.grid if role is StaffRole.GRID_LEADER else None
    username = form.username.strip().lower()
    existing = session.scalar(select(StaffUser).where(StaffUser.username == username))
    if existing is not None and existing.active and existing.role == role:
        scope = staff_scope(session, role, community, grid)
        same = existing.display_name == (form.display_name.strip() or username)
        if same and (existing.community_id, existing.grid_id) == scope and password_matches(existing, form.password):
            return existing, False
    language = form.language if form.language in ("zh-CN", "en") else "zh-CN"
    user = add_user(
        session,
        username=username,
        display_name=form.display_name,
        password=form.password,
        role=role,
        community=community,
        grid=grid,
        language=language,
    )
    audit.record(session, actor, "create", "staff", user.id, f"role:{role.value}")
    return user, True


def _account(session: Session, user_id: int) -> StaffUser:
    found = session.get(StaffUser, user_id)
    if found is None:
        raise NotFound("staff account", str(user_id))
    return found


def set_staff_role(
    session: Session, actor: StaffUser, user_id: int, role: str, community: str = "", grid: str = ""
) -> bool:
    """Give an account a new role and scope; True if anything changed. The account's open sessions carry the
    new role from their next request on.

    Raises:
        NotFound: no such account.
        InvalidStaffUser: an unknown role or scope, or the admin's own account.
    """
    user = _account(session, user_id)
    if user.id == actor.id:
        raise InvalidStaffUser("you cannot change your own role; ask another admin", "role", "own_account")
    new_role = _role(role)
    scope = staff_scope(
        session,
        new_role,
        community if new_role is StaffRole.CLERK else None,
        grid if new_role is StaffRole.GRID_LEADER else None,
    )
    if (user.role, user.community_id, user.grid_id) == (new_role, *scope):
        return False
    user.role = new_role
    user.community_id, user.grid_id = scope
    audit.record(session, actor, "edit", "staff", user.id, f"role:{new_role.value}")
    return True


def deactivate_staff(session: Session, actor: StaffUser, user_id: int) -> bool:
    """Stop an account: it can no longer sign in, and its sessions end at once. False if it was stopped already.

    Raises:
        NotFound: no such account.
        InvalidStaffUser: the admin's own account.
    """
    user = _account(session, user_id)
    if user.id == actor.id:
        raise InvalidStaffUser("you cannot stop your own account; ask another admin", "account", "own_account")
    if not user.active:
        return False
    user.active = False  # every request reloads the account, so its sessions end at once
    audit.record(session, actor, "deactivate", "staff", user.id)
    return True


def make_token(
    session: Session,
    actor: Actor,
    *,
    request_key: str,
    name: str,
    role: str,
    community: str = "",
    grid: str = "",
    lifetime: timedelta | None,
) -> tuple[ApiToken, str | None]:
    """Issue a token from the console. Returns the token and its secret to show once; None for the secret if
    this form's key made the token already (its secret was shown to the first click and is not kept).

    Raises:
        InvalidStaffUser: as `create_token`, with the field and a code for the page.
    """
    made = made_for_request(session, request_key)
    if made is not None:
        return made, None
    token_role = _role(role)
    token, secret = create_token(
        session,
        name=name,
        role=token_role,
        community=community or None if token_role is StaffRole.CLERK else None,
        grid=grid or None if token_role is StaffRole.GRID_LEADER else None,
        lifetime=lifetime,
        actor=actor,
        request_key=request_key,
    )
    return token, secret


def revoke(session: Session, actor: Actor, token_id: int) -> bool:
    """Revoke a token; False if it was revoked already (a second click changes nothing).

    Raises:
        NotFound: no such token.
    """
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("token", str(token_id))
    if token.revoked_at is not None:
        return False
    revoke_token(session, token.id, actor=actor)
    return True
