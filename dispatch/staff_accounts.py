"""Staff accounts: adding them, checking a password, and what part of the register each one may see.

Passwords are hashed with argon2id, with RFC 9106's recommended parameters for machines short of memory (argon2-cffi's
defaults: 64 MiB, 3 passes, 4 lanes).
An unknown username costs the same hash as a wrong password, so timing does not tell which usernames exist.
"""

from __future__ import annotations

import functools
import re
from typing import Protocol

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, false, select, true, update
from sqlalchemy.orm import Session

from dispatch.exceptions import InvalidStaffUser
from dispatch.models import Community, Grid, Household, StaffRole, StaffUser, utcnow

PASSWORD_PARAMETERS = profiles.RFC_9106_LOW_MEMORY
_HASHER = PasswordHasher.from_parameters(PASSWORD_PARAMETERS)
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10


@functools.lru_cache(maxsize=2)
def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash of a random password, verified against when the username is unknown, so that costs the same time.
    Made on first use rather than on import: every command of the CLI imports this module."""
    return hasher.hash("not-a-password-anyone-has")


def hash_password(password: str) -> str:
    """An argon2id hash of `password`, with its salt and parameters."""
    return _HASHER.hash(password)


def add_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    password: str,
    role: StaffRole,
    community: str | None = None,
    grid: str | None = None,
    language: str = "zh-CN",
) -> StaffUser:
    """Add a staff account. A clerk needs a community; a grid leader a grid ("community/grid" or a grid name).

    Raises:
        InvalidStaffUser: the username is taken or malformed, the password too short, or the scope wrong.
    """
    username = username.strip().lower()
    if not _USERNAME.match(username):
        raise InvalidStaffUser(
            "username: 2-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit", "username", "bad_username"
        )
    if len(password) < MIN_PASSWORD:
        raise InvalidStaffUser(f"password: at least {MIN_PASSWORD} characters", "password", "short_password")
    if session.scalar(select(StaffUser.id).where(StaffUser.username == username)) is not None:
        raise InvalidStaffUser(f"username {username!r} is taken", "username", "username_taken")
    user = StaffUser(
        username=username,
        display_name=display_name.strip() or username,
        password_hash=hash_password(password),
        role=role,
        language=language,
    )
    user.community_id, user.grid_id = staff_scope(session, role, community, grid)
    session.add(user)
    session.flush()
    return user


def staff_scope(
    session: Session, role: StaffRole, community: str | None, grid: str | None
) -> tuple[int | None, int | None]:
    """The (community id, grid id) of an account of `role`: a clerk's community by name, a grid leader's grid
    ("community/grid" or a grid name) and its community; an admin's none.

    Raises:
        InvalidStaffUser: a clerk without a known community, a grid leader without a known grid.
    """
    if role is StaffRole.CLERK:
        if not community:
            raise InvalidStaffUser("a clerk needs --community", "community", "required")
        found = session.scalar(select(Community).where(Community.name == community))
        if found is None:
            raise InvalidStaffUser(f"no community named {community!r}", "community", "unknown")
        return found.id, None
    if role is StaffRole.GRID_LEADER:
        if not grid:
            raise InvalidStaffUser("a grid leader needs --grid", "grid", "required")
        grid_id, community_id = _grid(session, grid)
        return community_id, grid_id
    return None, None


def _grid(session: Session, name: str) -> tuple[int, int]:
    community_name, _, grid_name = name.rpartition("/")
    query = select(Grid.id, Grid.community_id).where(Grid.name == grid_name)
    if community_name:
        query = query.join(Community).where(Community.name == community_name)
    found = session.execute(query).all()
    if len(found) != 1:
        problem = "no such grid" if not found else "ambiguous, use community/grid"
        raise InvalidStaffUser(f"grid {name!r}: {problem}", "grid", "unknown" if not found else "ambiguous")
    return found[0][0], found[0][1]


def password_matches(user: StaffUser, password: str) -> bool:
    """True if `password` is this account's (a repeated request is told from a new one by it)."""
    try:
        return bool(_HASHER.verify(user.password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def set_password(session: Session, username: str, password: str) -> None:
    """Give an account a new password.

    Raises:
        InvalidStaffUser: no such account, or the password is too short.
    """
    if len(password) < MIN_PASSWORD:
        raise InvalidStaffUser(f"password: at least {MIN_PASSWORD} characters", "password", "short_password")
    user = session.scalar(select(StaffUser).where(StaffUser.username == username.strip().lower()))
    if user is None:
        raise InvalidStaffUser(f"no account {username!r}", "username", "unknown")
    user.password_hash = hash_password(password)


def end_sessions(session: Session, user_id: int) -> None:
    """End every console session of this account, on every device: its session epoch goes up by one (in the
    database, so two sign-outs at once both count), and a session signed in under an older epoch is refused."""
    session.execute(
        update(StaffUser)
        .where(StaffUser.id == user_id)
        .values(session_epoch=StaffUser.session_epoch + 1)
        .execution_options(synchronize_session=False)
    )


def staff_account(session: Session, user_id: int) -> StaffUser | None:
    """The account with this id (active or not), or None."""
    return session.get(StaffUser, user_id)


def set_console_language(session: Session, user_id: int, language: str) -> None:
    """The language the console speaks to this account in; nothing if the account is gone."""
    account = session.get(StaffUser, user_id)
    if account is not None:
        account.language = language


def authenticate(session: Session, username: str, password: str) -> StaffUser | None:
    """The active account with this username and password, else None. Upgrades an outdated hash in place."""
    user = session.scalar(select(StaffUser).where(StaffUser.username == username.strip().lower()))
    stored = user.password_hash if user is not None and user.active else _dummy_hash(_HASHER)
    try:
        _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _HASHER.check_needs_rehash(stored):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    return user


class Principal(Protocol):
    """Whoever acts through the console or the API (a staff account or an API token): a role and a scope."""

    @property
    def role(self) -> str: ...

    @property
    def community_id(self) -> int | None: ...

    @property
    def grid_id(self) -> int | None: ...

    @property
    def audit_ref(self) -> str: ...

    @property
    def audit_name(self) -> str: ...


def household_scope(user: Principal) -> ColumnElement[bool]:
    """A filter on Household: the households this account may see and act on."""
    if user.role == StaffRole.ADMIN:
        return true()
    if user.role == StaffRole.CLERK and user.community_id is not None:
        return Household.community_id == user.community_id
    if user.role == StaffRole.GRID_LEADER and user.grid_id is not None:
        return Household.grid_id == user.grid_id
    return false()
