"""Notices scheduled for later: started once at their time, or cancelled before it.

A scheduled notice (`send_notice` with `starts_at`) has no copy until it starts. At its time the scheduler's job
calls `start_notice`, which decides who gets it as things are then (an opt-out meanwhile is left out), in the
author's scope. The database decides who starts it: a conditional UPDATE (status "scheduled" → "started") claims
the notice in the transaction that queues its copies, so two schedulers, or one job run twice, start it once; and
a cancel is the same UPDATE to "cancelled", so a notice is either cancelled or started, never both.

Quiet hours are checked again when it is due (the settings may have changed since): a notice due in them, or whose
calls would still be going when they begin, waits, and starts at the scheduler's first turn after they end.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from dispatch import audit
from dispatch.checkins.rules import CheckinRules
from dispatch.exceptions import InvalidAction, NotFound
from dispatch.models import ApiToken, AuditEntry, Notice, StaffRole, StaffUser
from dispatch.notices.notice_plan import find_target, plan_copies, plan_problems
from dispatch.notices.notice_sending import decide_copies, plan_summary
from dispatch.notices.notice_views import visible_notices
from dispatch.sms_templates import TemplateTable
from dispatch.staff_accounts import Principal, household_scope

DUE_LIMIT = 50  # notices started per turn; the rest at the next


def _claim(session: Session, notice_id: int, status: str, now: datetime) -> bool:
    """Move a scheduled notice to `status`, if it is still scheduled. True if this transaction did."""
    values: dict[str, object] = {"status": status}
    if status == "started":
        values["started_at"] = now
    result = session.execute(
        update(Notice).where(Notice.id == notice_id, Notice.status == "scheduled").values(**values),
        execution_options={"synchronize_session": False},
    )
    assert isinstance(result, CursorResult)
    session.expire_all()
    return result.rowcount == 1


def may_cancel(actor: Principal, notice: Notice) -> bool:
    """Its author, an admin, or a clerk of the notice's community (a grid leader only their own)."""
    if actor.role == StaffRole.ADMIN or actor.audit_ref == notice.created_by:
        return True
    clerk = actor.role == StaffRole.CLERK and notice.community_id is not None
    return clerk and actor.community_id == notice.community_id


def cancel_notice(
    session: Session, notice_id: int, *, actor: Principal, where: ColumnElement[bool], now: datetime
) -> bool:
    """Cancel a scheduled notice before it starts (audit "cancel"). Returns True if this call cancelled it, False
    if it was cancelled already (a repeated request changes nothing).

    Raises:
        NotFound: no such notice in scope.
        InvalidAction: it has already started, or this actor may not cancel it.
    """
    notice = session.scalar(select(Notice).where(Notice.id == notice_id, visible_notices(where)))
    if notice is None:
        raise NotFound("notice", str(notice_id))
    if not may_cancel(actor, notice):
        raise InvalidAction(
            "only its author, the community's clerk or an admin may cancel this notice", "notice_cancel_not_yours"
        )
    if _claim(session, notice_id, "cancelled", now):
        audit.record(session, actor, "cancel", "notice", notice_id, "before it started", at=now)
        return True
    status = session.scalar(select(Notice.status).where(Notice.id == notice_id))
    if status == "cancelled":
        return False
    raise InvalidAction("already started: a notice can be cancelled only before it starts", "notice_cancel_started")


def due_notice_ids(session: Session, now: datetime, limit: int = DUE_LIMIT) -> list[int]:
    """Scheduled notices whose time has come, earliest first."""
    query = select(Notice.id).where(Notice.status == "scheduled", Notice.starts_at <= now)
    return list(session.scalars(query.order_by(Notice.starts_at, Notice.id).limit(limit)))


def _author(session: Session, ref: str, now: datetime) -> StaffUser | ApiToken | None:
    """Who scheduled it, if they may still act: an active account, or a token neither revoked nor expired."""
    kind, _, number = ref.partition(":")
    if not number.isdigit():
        return None
    if kind == "staff":
        user = session.get(StaffUser, int(number))
        return user if user is not None and user.active else None
    if kind == "token":
        token = session.get(ApiToken, int(number))
        if token is None or token.revoked_at is not None:
            return None
        return token if token.expires_at is None or token.expires_at > now else None
    return None


def start_notice(
    session: Session,
    notice_id: int,
    *,
    now: datetime,
    rules: CheckinRules,
    rates: tuple[float, float],
    templates: TemplateTable | None = None,
) -> list[int]:
    """Start a scheduled notice that is due, in the caller's transaction: claim it, decide its copies in its
    author's scope, record it (audit "start", by its author). Returns the outbound ids to hand over after the
    commit; none if it is not due, no longer scheduled, claimed by another, or waiting for quiet hours to end.

    A notice that can no longer go (its author gone, its grid or community gone, its text unfit for the gateway,
    nobody left to reach) is cancelled instead, with the reason in the audit entry."""
    notice = session.get(Notice, notice_id)
    if notice is None or notice.status != "scheduled" or notice.starts_at is None or notice.starts_at > now:
        return []
    if rules.is_quiet(now, rules.timezone):
        return []  # waits for the end of quiet hours
    author = _author(session, notice.created_by, now)
    if author is None:
        return _give_up(session, notice, "its author can no longer act", now)
    where = household_scope(author)
    try:
        found = find_target(session, where, notice.target_kind, notice.target, notice.channels)
    except (NotFound, InvalidAction) as exc:
        return _give_up(session, notice, f"its target is gone: {exc}", now)
    plan = plan_copies(session, where, found, notice.channels, now=now, rules=rules, rates=rates)
    if plan.quiet:
        return []  # its calls would still be going in quiet hours: it waits for them to end
    problems = plan_problems(notice.body, plan, rules, notice.channels, templates)
    if problems:
        return _give_up(session, notice, "; ".join(p.message for p in problems), now)
    if not _claim(session, notice_id, "started", now):
        return []  # another scheduler started or cancelled it meanwhile
    notice = session.get_one(Notice, notice_id)
    outbound = decide_copies(session, notice, plan)
    detail = f"at its time {notice.starts_at.isoformat() if notice.starts_at else '-'}; {plan_summary(plan)}"
    audit.record(session, author, "start", "notice", notice_id, detail, at=now)
    return outbound


def _give_up(session: Session, notice: Notice, reason: str, now: datetime) -> list[int]:
    """Cancel a due notice that can no longer go; the audit entry names its author and why."""
    ref = notice.created_by
    named = select(AuditEntry.actor_name).where(
        AuditEntry.object_kind == "notice", AuditEntry.object_id == notice.id, AuditEntry.action == "schedule"
    )
    name = session.scalar(named.limit(1)) or ref
    if _claim(session, notice.id, "cancelled", now):
        audit.record(session, _Named(ref, name), "cancel", "notice", notice.id, f"at its time: {reason}", at=now)
    return []


class _Named:
    """An audit actor given by its stored reference (a notice's author who can no longer act)."""

    def __init__(self, ref: str, name: str) -> None:
        self.audit_ref, self.audit_name = ref, name


_HHMM = re.compile(r"^([01]?[0-9]|2[0-3])[:：]([0-5][0-9])$")


def local_start(day: str, hhmm: str, zone: ZoneInfo) -> datetime | None:
    """A start time typed as a date (YYYY-MM-DD) and a 24-hour time (HH:MM) in the hotline's timezone, as UTC;
    None if both are empty (at once).

    Raises:
        ValueError: one without the other, or either not a date or time.
    """
    day, hhmm = day.strip(), hhmm.strip()
    if not day and not hhmm:
        return None
    found = _HHMM.match(hhmm)
    if not day or found is None:
        raise ValueError("a start needs a date (YYYY-MM-DD) and a 24-hour time (HH:MM)")
    moment = datetime.combine(date.fromisoformat(day), time(int(found[1]), int(found[2])), zone)
    return moment.astimezone(UTC)
