"""Bearer tokens for the JSON API (`/api/v1`): issuing, checking, revoking and listing them.

A token acts as a staff account does: it has a role (admin, clerk with a community, grid leader with a grid) and
sees the same part of the register (`dispatch.staff_accounts.household_scope` reads its role and scope).

The secret is `hl_` and 32 random bytes (`secrets.token_urlsafe`), shown once when it is made. Only its SHA-256
is stored. A password needs a slow, salted hash because people choose guessable ones; a 256-bit random secret
cannot be guessed, so a fast hash loses nothing, and an unsalted one lets a request find its token by an indexed
equality lookup on the hash. That lookup is also what makes the check safe against timing: the secret is never
compared byte by byte with a stored value, only its hash is looked up, and an attacker cannot steer the hash.

A token may expire (`expires_at`): from then on it is refused like an unknown or revoked one. `hotline tokens
create` gives each token DEFAULT_LIFETIME unless told otherwise; tokens made before expiry existed never expire.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from dispatch import audit
from dispatch.db import serialise
from dispatch.exceptions import InvalidAction, InvalidStaffUser, NotFound
from dispatch.models import ApiToken, AuditEntry, Community, StaffRole, utcnow
from dispatch.staff_accounts import _grid

SECRET_PREFIX = "hl_"  # noqa: S105  # what every secret starts with, not a secret
PREFIX_LENGTH = 11  # "hl_" and 8 characters of the secret: enough to name a token in a list, useless to guess it
NAME_LIMIT = 100
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per token
DEFAULT_LIFETIME = timedelta(days=90)  # what `hotline tokens create` gives a token unless told otherwise
MAX_LIFETIME = timedelta(days=3650)


@dataclass(frozen=True)
class _CommandLine:
    """The actor the audit log names for tokens made or revoked from the command line."""

    audit_ref: str = "cli"
    audit_name: str = "command line"


CLI = _CommandLine()


def hash_secret(secret: str) -> str:
    """The stored form of a secret: SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    session: Session,
    *,
    name: str,
    role: StaffRole | str,
    community: str | None = None,
    grid: str | None = None,
    lifetime: timedelta | None = None,
    now: datetime | None = None,
    actor: audit.Actor = CLI,
    request_key: str = "",
) -> tuple[ApiToken, str]:
    """Issue a token. A clerk's token needs a community (by name), a grid leader's a grid ("community/grid" or a
    grid name), as for staff accounts; an admin's takes neither. With a `lifetime` it expires that long after
    `now`; without one, never. The audit entry names `actor` (the command line unless given) and the console
    form's `request_key` if any (`made_for_request` finds the token by it).

    Returns:
        The stored token and its secret. The secret is not stored anywhere: show it once.

    Raises:
        InvalidStaffUser: an empty or long name, an unknown role, a missing, unknown or needless scope, or a
            lifetime not above zero or over MAX_LIFETIME.
    """
    now = now or utcnow()
    if lifetime is not None and not timedelta(0) < lifetime <= MAX_LIFETIME:
        raise InvalidStaffUser(
            f"a token's lifetime is more than 0 and at most {MAX_LIFETIME.days} days", "lifetime", "bad_lifetime"
        )
    name = name.strip()
    if not name or len(name) > NAME_LIMIT:
        raise InvalidStaffUser(f"a token needs a name of 1 to {NAME_LIMIT} characters", "name", "bad_name")
    try:
        role = StaffRole(role)
    except ValueError:
        raise InvalidStaffUser(f"role must be one of: {', '.join(StaffRole)}", "role", "unknown") from None
    community_id = grid_id = None
    if role is StaffRole.CLERK:
        if community is None or grid is not None:
            raise InvalidStaffUser("a clerk's token needs --community and no --grid", "community", "required")
        community_id = session.scalar(select(Community.id).where(Community.name == community))
        if community_id is None:
            raise InvalidStaffUser(f"no community named {community!r}", "community", "unknown")
    elif role is StaffRole.GRID_LEADER:
        if grid is None or community is not None:
            raise InvalidStaffUser(
                "a grid leader's token needs --grid (a name, or community/grid) and no --community", "grid", "required"
            )
        grid_id, community_id = _grid(session, grid)
    elif community is not None or grid is not None:
        raise InvalidStaffUser(
            "an admin's token sees everything: give it no --community or --grid", "community", "needless"
        )
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        prefix=secret[:PREFIX_LENGTH],
        token_hash=hash_secret(secret),
        role=role.value,
        community_id=community_id,
        grid_id=grid_id,
        created_at=now,
        expires_at=now + lifetime if lifetime is not None else None,
    )
    session.add(token)
    session.flush()
    detail = f"role:{role.value}" + (f" request:{request_key}" if request_key else "")
    audit.record(session, actor, "create", "token", token.id, detail, at=now)
    return token, secret


def made_for_request(session: Session, request_key: str) -> ApiToken | None:
    """The token a console form with this key already made (a second click or a resubmitted form), if any. Holds
    a lock on the key until the commit, so two submits at once make one token: the second waits, then finds it.
    The key is matched exactly (no LIKE: an `_` or `%` in it is itself)."""
    if not request_key:
        return None
    serialise(session, f"token-request:{request_key}")
    details = [f"role:{role.value} request:{request_key}" for role in StaffRole]
    made = select(AuditEntry.object_id).where(
        AuditEntry.action == "create",
        AuditEntry.object_kind == "token",
        AuditEntry.detail.in_(details),
    )
    return session.scalar(select(ApiToken).where(ApiToken.id.in_(made)).order_by(ApiToken.id).limit(1))


def verify_token(session: Session, secret: str, now: datetime | None = None) -> ApiToken | None:
    """The live token with this secret at `now`, else None (unknown, malformed, revoked or expired: the caller
    cannot tell which).

    Only the secret's hash is looked up, so no stored value is compared with the secret byte by byte.
    """
    if not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_secret(secret)))
    if token is None or token.revoked_at is not None or is_expired(token, now or utcnow()):
        return None
    return token


def is_expired(token: ApiToken, now: datetime) -> bool:
    """True from the token's expiry on; a token without one never expires."""
    return token.expires_at is not None and token.expires_at <= now


def needs_touch(token: ApiToken, now: datetime) -> bool:
    """True if the token's last use is unknown or more than TOUCH_EVERY old."""
    return token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY


def touch_token(session: Session, token_id: int, now: datetime) -> bool:
    """Record that the token was used at `now`, unless that was recorded less than TOUCH_EVERY ago (one
    conditional UPDATE, so many requests at once write it once). True if it wrote."""
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id)
        .where(or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - TOUCH_EVERY))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def find_token(session: Session, token_id_or_prefix: int | str) -> ApiToken:
    """A token by its id or its prefix (as `list_tokens` shows it).

    Raises:
        NotFound: no such token, or the prefix names more than one.
    """
    key = str(token_id_or_prefix).strip()
    if key.isdigit():
        found = session.get(ApiToken, int(key))
        if found is None:
            raise NotFound("token", key)
        return found
    matches = list(session.scalars(select(ApiToken).where(ApiToken.prefix == key)))
    if len(matches) != 1:
        raise NotFound("token", key if not matches else f"{key} (several tokens have this prefix; use the id)")
    return matches[0]


def revoke_token(
    session: Session, token_id_or_prefix: int | str, now: datetime | None = None, actor: audit.Actor = CLI
) -> ApiToken:
    """Revoke a token: from now on it is refused like an unknown one. The row stays, for the audit log.

    Raises:
        NotFound: no such token.
        InvalidAction: it was revoked already.
    """
    token = find_token(session, token_id_or_prefix)
    if token.revoked_at is not None:
        raise InvalidAction(f"token {token.id} ({token.prefix}) was revoked already")
    token.revoked_at = now or utcnow()
    audit.record(session, actor, "revoke", "token", token.id, at=now)
    return token


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token, live and revoked, newest first."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id.desc())))
