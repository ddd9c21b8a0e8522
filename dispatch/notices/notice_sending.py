"""Sending a notice: every copy decided and queued in the caller's transaction, with its audit entry.

A re-submitted form sends nothing twice: its random request key is stored in the audit entry of the send, in the
notice's own transaction; a second send with the key (same actor) returns the first notice. Sends with one key are
serialised (SQLite's BEGIN IMMEDIATE; a PostgreSQL advisory transaction lock). A notice scheduled for later is
stored here with no copy; `decide_copies` makes them when it starts (`notice_schedule`).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from dispatch import audit
from dispatch.checkins.rules import CheckinRules
from dispatch.exceptions import InvalidAction
from dispatch.models import AuditEntry, Notice, StaffRole
from dispatch.notices.notice_plan import _Plan, find_target, plan_copies, plan_problems, start_problem
from dispatch.outbox import queue_sms
from dispatch.sms_templates import TemplateTable
from dispatch.staff_accounts import Principal

_REQUEST_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def _earlier(session: Session, actor: Principal, key: str) -> Notice | None:
    """The notice this actor already sent with this request key, if any. Holds a lock on the key until the commit
    (SQLite's write transactions are serialised anyway, by BEGIN IMMEDIATE)."""
    if not _REQUEST_KEY.match(key):
        raise InvalidAction("request key: 8-64 of A-Z, a-z, 0-9, '_', '-'")
    if session.get_bind().dialect.name == "postgresql":
        number = int.from_bytes(hashlib.sha256(f"notice:{key}".encode()).digest()[:8], "big", signed=True)
        session.execute(select(func.pg_advisory_xact_lock(number)))
    notice_id = session.scalar(
        select(AuditEntry.object_id)
        .where(
            AuditEntry.object_kind == "notice",
            AuditEntry.action.in_(("send", "schedule")),
            AuditEntry.actor == actor.audit_ref,
            AuditEntry.detail.startswith(f"request={key};", autoescape=True),
        )
        .limit(1)
    )
    return session.get(Notice, notice_id) if notice_id is not None else None


def decide_copies(session: Session, notice: Notice, plan: _Plan) -> list[int]:
    """Queue one copy of `notice` per phone and channel of `plan`, SMS first; sets its recipients. Returns the
    outbound ids to hand over after the commit (a copy already queued is not queued again)."""
    outbound: list[int] = []
    for (channel, phone), language in plan.copies.items():
        row = queue_sms(
            session,
            dedupe_key=f"notice:{notice.id}:{channel}:{phone}",
            to_phone=phone,
            body=notice.body,
            kind=channel,
            language=language,
        )
        if row is not None:
            row.notice_id = notice.id
            outbound.append(row.id)
    notice.recipients = len(outbound)
    return outbound


def plan_summary(plan: _Plan) -> str:
    """What a plan decides, in the audit entry's words (counts only, never a number)."""
    return f"residents {plan.residents}, sms {plan.sms}, calls {len(plan.copies) - plan.sms}"


def send_notice(
    session: Session,
    *,
    actor: Principal,
    where: ColumnElement[bool],
    target_kind: str,
    target: str,
    channels: str,
    body: str,
    now: datetime,
    rules: CheckinRules | None = None,
    sms_per_second: float = 0.0,
    calls_per_second: float = 0.0,
    request_key: str | None = None,
    templates: TemplateTable | None = None,
    starts_at: datetime | None = None,
) -> tuple[Notice, list[int]]:
    """Decide every copy of a notice and record it (audit "send") in the caller's transaction. Returns the notice
    and the outbound ids to queue after the commit, SMS first; none if `request_key` (the form's random key, 8-64 of
    A-Z a-z 0-9 _ -) had already sent it. Pass `rules` (the context's `checkin`: quiet hours, timezones) and the
    configured rates, which tell whether calls would run into quiet hours; and `templates` when the gateway sends
    approved templates only (Tencent's), which the SMS must fit.

    With `starts_at` the notice is scheduled, not sent: it is checked as it would go at that time (which must not
    have passed, nor be in quiet hours), stored "scheduled" with no copy decided (audit "schedule"), and started
    by `notice_schedule.start_notice` when it is due.

    Raises:
        NotFound: the target does not exist or is outside the scope.
        InvalidAction: a bad channel, kind, category or request key; an empty or too long text, or one that fits no
            approved template; calls in quiet hours; nobody to reach; a start past or in quiet hours. The message
            says which.
    """
    rules, body = rules or CheckinRules(), body.strip()
    earlier = _earlier(session, actor, request_key) if request_key is not None else None
    if earlier is not None:
        return earlier, []
    found = find_target(session, where, target_kind, target, channels)
    at = starts_at or now
    plan = plan_copies(session, where, found, channels, now=at, rules=rules, rates=(sms_per_second, calls_per_second))
    problems = plan_problems(body, plan, rules, channels, templates)
    late = start_problem(starts_at, now, rules) if starts_at is not None else None
    problems = (late, *problems) if late is not None else problems
    if problems:
        raise InvalidAction("; ".join(p.message for p in problems))
    community_id = found.community_id
    if found.kind == "category" and actor.role != StaffRole.ADMIN:
        community_id = actor.community_id  # a clerk's or grid leader's category notice stays in their community
    notice = Notice(
        body=body,
        channels=channels,
        target_kind=found.kind,
        target=found.name,
        community_id=community_id,
        recipients=0,
        created_by=actor.audit_ref,
        created_at=now,
        status="scheduled" if starts_at is not None else "started",
        starts_at=starts_at,
        started_at=None if starts_at is not None else now,
    )
    session.add(notice)
    session.flush()
    if starts_at is not None:
        detail = f"request={request_key or '-'}; {found.kind}={found.name}; {channels}; starts {starts_at.isoformat()}"
        audit.record(session, actor, "schedule", "notice", notice.id, detail, at=now)
        return notice, []
    outbound = decide_copies(session, notice, plan)
    detail = f"request={request_key or '-'}; {found.kind}={found.name}; {channels}; {plan_summary(plan)}"
    audit.record(session, actor, "send", "notice", notice.id, detail, at=now)
    return notice, outbound
