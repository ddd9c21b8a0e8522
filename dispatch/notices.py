"""Notices (防控信息): one text to a community, a grid or a category of residents, by SMS and/or automated call.

Who gets what: active residents only (opted-out, paused, moved-away ones are counted as skipped). "sms": an SMS to
each resident who reads SMS (channel sms, with a mobile); those on voice or with only landlines get a call instead,
so nobody is missed. "call": a call to everyone at their first number (it says the text twice). "both": the SMS as
above and a call to everyone. One copy per phone per channel (key `notice:<id>:<channel>:<phone>`). The SMS go
first, then the calls, at the configured rates (0 is no limit).

Quiet hours (HOTLINE_QUIET_HOURS, where the resident lives): no automated call rings then, nor starts if the calls
would still be going when they begin. A notice by "call" or "both" is then refused; one by "sms" leaves out the
fallback calls (skipped: quiet_hours), so staff see whom to call in the morning. Refused, not held: an old man
woken at 23:00 by a recorded voice is frightened, not informed; holding needs a schedule the outbox lacks (the
sweeper hands every pending row over at once); and news at 22:00 may be wrong by 07:00, so staff decide again.

A re-submitted form sends nothing twice: its random request key is stored in the audit entry of the send, in the
notice's own transaction; a second send with the key (same actor) returns the first notice. Sends with one key are
serialised (SQLite's BEGIN IMMEDIATE; a PostgreSQL advisory transaction lock). No new column is needed.

Visibility: a notice to a community or a category is seen by staff who see a household of its community; to a
grid, by those who see a household of that grid; a category notice to the whole register (an admin's, community
unset) only by staff who see every household.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, select
from sqlalchemy.orm import Session

from dispatch import audit
from dispatch.checkins.rules import CheckinRules
from dispatch.exceptions import InvalidAction, NotFound
from dispatch.models import (
    AuditEntry,
    Channel,
    Community,
    Grid,
    Household,
    Notice,
    OutboundMessage,
    Resident,
    ResidentCategory,
    ResidentPhone,
    ResidentStatus,
    StaffRole,
    utcnow,
)
from dispatch.outbox import queue_sms
from dispatch.segments import count_segments
from dispatch.staff_accounts import Principal

CHANNELS = ("sms", "call", "both")
TARGET_KINDS = ("community", "grid", "category")
BODY_LIMIT = 300  # characters: five SMS segments in Chinese, and about a minute and a half when a call says it
LIST_LIMIT = 100
_REQUEST_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
STAGES = ("pending", "sent", "delivered", "failed")  # a notice's progress; a call's "sent" is "placed"
_STAGE = {"sending": "pending", "unknown": "sent", "undelivered": "failed", "cancelled": "failed"}  # others: as named


@dataclass(frozen=True)
class Problem:
    """Why a notice cannot go as it is: a code for the console's words, its fields, and a message in English."""

    code: str  # empty_body, body_too_long, quiet_hours, nobody
    message: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NoticePreview:
    """What sending would do: who it reaches, what each SMS costs, and how long it takes at the configured rate."""

    target_kind: str
    target: str
    channels: str
    residents: int  # residents who get at least one copy
    sms: int  # SMS to send, one per phone
    calls: int  # calls to place, one per phone
    skipped: dict[str, int]  # residents left out, by reason: opted_out, paused, moved_away, no_phone, quiet_hours
    encoding: str  # of the SMS: GSM-7, or UCS-2 (any Chinese character makes it UCS-2)
    characters: int  # in that encoding's units
    segments: int  # per SMS
    sms_per_second: float  # 0: no limit
    calls_per_second: float
    problems: tuple[Problem, ...] = ()
    body_limit: int = BODY_LIMIT

    @property
    def sms_seconds(self) -> float:
        return _seconds(self.sms, self.sms_per_second)

    @property
    def call_seconds(self) -> float:
        return _seconds(self.calls, self.calls_per_second)

    @property
    def seconds(self) -> float:
        """How long handing everything over takes: the SMS, then the calls (0 with no limit)."""
        return self.sms_seconds + self.call_seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "seconds": self.seconds,
            "sms_seconds": self.sms_seconds,
            "ok": not self.problems,
            "call_seconds": self.call_seconds,
            "sms_segments": self.sms * self.segments,
            "sms_unlimited": self.sms_per_second <= 0,
            "calls_unlimited": self.calls_per_second <= 0,
        }


@dataclass(frozen=True)
class NoticeProgress:
    """One notice and how far its copies are, per channel: pending, sent (a call: placed), delivered, failed."""

    id: int
    body: str
    channels: str
    target_kind: str
    target: str
    community: str | None
    recipients: int
    created_at: datetime
    sent_by: str
    counts: dict[str, dict[str, int]]  # "sms" / "call" → stage → copies, and "total"

    @property
    def done(self) -> bool:
        return all(c["pending"] == 0 for c in self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "created_at": self.created_at.isoformat(), "done": self.done}


@dataclass(frozen=True)
class _Target:
    kind: str
    name: str  # as stored: a community's or grid's name, or a category's key
    community_id: int | None
    clause: ColumnElement[bool]  # on Household


@dataclass
class _Plan:
    copies: dict[tuple[str, str], str]  # (channel, phone) → language, SMS first
    sms: int
    residents: int
    skipped: Counter[str]
    quiet: bool  # calls of a "call" or "both" notice would ring in quiet hours


def _outside(where: ColumnElement[bool]) -> ColumnElement[bool]:
    """Households the scope does not admit (a NULL in the filter counts as outside)."""
    return not_(func.coalesce(where, false()))


def _any(session: Session, clause: ColumnElement[bool]) -> bool:
    return session.scalar(select(Household.id).where(clause).limit(1)) is not None


def _target(session: Session, where: ColumnElement[bool], kind: str, target: str, channels: str) -> _Target:
    """What a notice is addressed to, wholly within the scope (a grid leader cannot send to their community).
    Raises NotFound if there is no such community or grid in scope (one answer for both); InvalidAction for an
    unknown channel, kind or category, a grid name in several communities, or a target partly outside the scope."""
    if channels not in CHANNELS:
        raise InvalidAction(f"channels: one of {', '.join(CHANNELS)}")
    target = target.strip()
    if kind == "category":
        if target not in set(ResidentCategory):
            raise InvalidAction(f"unknown category {target!r}; one of {', '.join(ResidentCategory)}")
        return _Target(kind, target, None, Household.id.is_not(None))
    if kind == "community":
        query = select(Community.id, Community.name, Community.id).where(Community.name == target)
    elif kind == "grid":
        community, _, grid = target.rpartition("/")
        query = select(Grid.id, Grid.name, Grid.community_id).join(Community).where(Grid.name == grid.strip())
        query = query.where(Community.name == community.strip()) if community else query
    else:
        raise InvalidAction(f"a notice goes to one of: {', '.join(TARGET_KINDS)}")
    column = Household.community_id if kind == "community" else Household.grid_id
    found = [row for row in session.execute(query) if _any(session, and_(column == row[0], where))]
    if not found:
        raise NotFound(kind, target)
    if len(found) > 1:
        raise InvalidAction(f"grid {target!r} is in several communities; write community/grid")
    if _any(session, and_(column == found[0][0], _outside(where))):
        raise InvalidAction(f"part of {kind} {target!r} is outside your part of the register; choose your own")
    return _Target(kind, found[0][1], found[0][2], column == found[0][0])


def _quiet_during(rules: CheckinRules, zone: ZoneInfo, start: datetime, end: datetime) -> bool:
    """True if any moment from `start` to `end` is in quiet hours where `zone` is."""
    if rules.is_quiet(start, zone) or rules.is_quiet(end, zone):
        return True
    day = start.astimezone(zone).date()
    return any(start <= datetime.combine(day + timedelta(days=n), rules.quiet_hours[0], zone) <= end for n in (0, 1))


def _seconds(count: int, rate: float) -> float:
    return count / rate if rate > 0 else 0.0


def _plan(
    session: Session,
    where: ColumnElement[bool],
    target: _Target,
    channels: str,
    *,
    now: datetime,
    rules: CheckinRules,
    rates: tuple[float, float],
) -> _Plan:
    """Who gets which copy, one per phone per channel; see the module's description."""
    rows = session.execute(
        select(
            Resident.id,
            Resident.status,
            Resident.channel,
            Resident.language,
            Resident.categories,
            Community.timezone,
            ResidentPhone.phone,
            ResidentPhone.landline,
        )
        .join(Household, Household.id == Resident.household_id)
        .outerjoin(Community, Community.id == Household.community_id)
        .outerjoin(ResidentPhone, ResidentPhone.resident_id == Resident.id)
        .where(where, target.clause)
        .order_by(Resident.id, ResidentPhone.position)
    ).all()
    skipped: Counter[str] = Counter()
    people = []  # (sms phone, call phone, language, zone)
    for _, group in groupby(rows, key=lambda r: r.id):
        numbers = list(group)
        row = numbers[0]
        if target.kind == "category" and target.name not in (row.categories or []):
            continue
        if row.status != ResidentStatus.ACTIVE or row.phone is None:
            skipped[str(row.status) if row.status != ResidentStatus.ACTIVE else "no_phone"] += 1
            continue
        mobile = next((n.phone for n in numbers if not n.landline), None)
        reads_sms = row.channel == Channel.SMS and mobile is not None
        sms = mobile if reads_sms and channels in ("sms", "both") else None
        call = row.phone if channels in ("call", "both") or not reads_sms else None
        people.append((sms, call, row.language, rules.zone(row.timezone)))
    ends = now + timedelta(
        seconds=_seconds(len({p[0] for p in people if p[0]}), rates[0])
        + _seconds(len({p[1] for p in people if p[1]}), rates[1])
    )
    quiet_zones = {p[3] for p in people if p[1] and _quiet_during(rules, p[3], now, ends)}
    sms_copies: dict[tuple[str, str], str] = {}
    calls: dict[tuple[str, str], str] = {}
    reached = 0
    for sms, call, language, zone in people:
        if call and zone in quiet_zones and channels == "sms":
            call = None  # the fallback call of an SMS notice: staff call them in the morning
            if sms is None:
                skipped["quiet_hours"] += 1
                continue
        reached += 1
        if sms:
            sms_copies.setdefault(("sms", sms), language)
        if call:
            calls.setdefault(("call", call), language)
    return _Plan({**sms_copies, **calls}, len(sms_copies), reached, skipped, bool(quiet_zones) and channels != "sms")


def _problems(body: str, plan: _Plan, rules: CheckinRules) -> tuple[Problem, ...]:
    found = []
    if not body:
        found.append(Problem("empty_body", "the notice has no text"))
    elif len(body) > BODY_LIMIT:
        found.append(
            Problem(
                "body_too_long",
                f"the text has {len(body)} characters; at most {BODY_LIMIT}",
                {"length": len(body), "limit": BODY_LIMIT},
            )
        )
    if plan.quiet:
        start, end = (t.strftime("%H:%M") for t in rules.quiet_hours)
        found.append(
            Problem(
                "quiet_hours",
                f"no automated call in quiet hours ({start}-{end}), nor one that would "
                f"still be going then; send it by SMS now, or by call after {end}",
                {"start": start, "end": end},
            )
        )
    if not plan.copies:
        found.append(Problem("nobody", "this notice reaches nobody"))
    return tuple(found)


def preview(
    session: Session,
    where: ColumnElement[bool],
    *,
    target_kind: str,
    target: str,
    channels: str,
    body: str,
    sms_per_second: float,
    calls_per_second: float,
    now: datetime | None = None,
    rules: CheckinRules | None = None,
) -> NoticePreview:
    """What `send_notice` would do now, without doing it. Problems (an empty or too long text, calls in quiet
    hours, nobody to reach) are listed, not raised; a target unknown or outside the scope raises as in `send_notice`."""
    rules, body = rules or CheckinRules(), body.strip()
    found = _target(session, where, target_kind, target, channels)
    plan = _plan(
        session, where, found, channels, now=now or utcnow(), rules=rules, rates=(sms_per_second, calls_per_second)
    )
    cost = count_segments(body)
    return NoticePreview(
        found.kind,
        found.name,
        channels,
        plan.residents,
        plan.sms,
        len(plan.copies) - plan.sms,
        dict(sorted(plan.skipped.items())),
        cost.encoding,
        cost.units,
        cost.segments,
        sms_per_second,
        calls_per_second,
        _problems(body, plan, rules),
    )


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
            AuditEntry.action == "send",
            AuditEntry.actor == actor.audit_ref,
            AuditEntry.detail.startswith(f"request={key};", autoescape=True),
        )
        .limit(1)
    )
    return session.get(Notice, notice_id) if notice_id is not None else None


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
) -> tuple[Notice, list[int]]:
    """Decide every copy of a notice and record it (audit "send") in the caller's transaction. Returns the notice
    and the outbound ids to queue after the commit, SMS first; none if `request_key` (the form's random key, 8-64 of
    A-Z a-z 0-9 _ -) had already sent it. Pass `rules` (the context's `checkin`: quiet hours, timezones) and the
    configured rates, which tell whether calls would run into quiet hours.

    Raises:
        NotFound: the target does not exist or is outside the scope.
        InvalidAction: a bad channel, kind, category or request key; an empty or too long text; calls in quiet
            hours; nobody to reach. The message says which.
    """
    rules, body = rules or CheckinRules(), body.strip()
    earlier = _earlier(session, actor, request_key) if request_key is not None else None
    if earlier is not None:
        return earlier, []
    found = _target(session, where, target_kind, target, channels)
    plan = _plan(session, where, found, channels, now=now, rules=rules, rates=(sms_per_second, calls_per_second))
    problems = _problems(body, plan, rules)
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
    )
    session.add(notice)
    session.flush()
    outbound: list[int] = []
    for (channel, phone), language in plan.copies.items():
        row = queue_sms(
            session,
            dedupe_key=f"notice:{notice.id}:{channel}:{phone}",
            to_phone=phone,
            body=body,
            kind=channel,
            language=language,
        )
        if row is not None:
            row.notice_id = notice.id
            outbound.append(row.id)
    notice.recipients = len(outbound)
    detail = (
        f"request={request_key or '-'}; {found.kind}={found.name}; {channels}; residents {plan.residents}, "
        f"sms {plan.sms}, calls {len(plan.copies) - plan.sms}"
    )
    audit.record(session, actor, "send", "notice", notice.id, detail, at=now)
    return notice, outbound


def _visible(where: ColumnElement[bool]) -> ColumnElement[bool]:
    """Notices the scope may see; see the module's description."""
    in_community = exists(select(Household.id).where(where, Household.community_id == Notice.community_id))
    in_grid = exists(
        select(Household.id)
        .join(Grid, Grid.id == Household.grid_id)
        .where(where, Grid.community_id == Notice.community_id, Grid.name == Notice.target)
    )
    everything = not_(exists(select(Household.id).where(_outside(where))))
    return or_(
        and_(Notice.target_kind == "grid", in_grid),
        and_(Notice.target_kind != "grid", Notice.community_id.is_not(None), in_community),
        and_(Notice.community_id.is_(None), everything),
    )


def _progress(session: Session, notices: list[Notice]) -> list[NoticeProgress]:
    ids = [n.id for n in notices]
    counts: dict[int, dict[str, dict[str, int]]] = {i: {} for i in ids}
    if ids:
        rows = session.execute(
            select(OutboundMessage.notice_id, OutboundMessage.kind, OutboundMessage.status, func.count())
            .where(OutboundMessage.notice_id.in_(ids))
            .group_by(OutboundMessage.notice_id, OutboundMessage.kind, OutboundMessage.status)
        )
        for notice_id, kind, status, count in rows:
            assert notice_id is not None
            channel = counts[notice_id].setdefault(kind, {**dict.fromkeys(STAGES, 0), "total": 0})
            channel[_STAGE.get(status, status)] += count
            channel["total"] += count
    names = {
        row.object_id: row.actor_name
        for row in session.execute(
            select(AuditEntry.object_id, AuditEntry.actor_name).where(
                AuditEntry.object_kind == "notice", AuditEntry.action == "send", AuditEntry.object_id.in_(ids)
            )
        )
    }
    communities = {row.id: row.name for row in session.execute(select(Community.id, Community.name))}
    found = []
    for n in notices:
        by_channel = dict(sorted(counts[n.id].items(), key=lambda kv: kv[0] != "sms"))  # SMS first
        found.append(
            NoticeProgress(
                id=n.id,
                body=n.body,
                channels=n.channels,
                target_kind=n.target_kind,
                target=n.target,
                community=communities.get(n.community_id) if n.community_id else None,
                recipients=n.recipients,
                created_at=n.created_at,
                sent_by=names.get(n.id) or n.created_by,
                counts=by_channel,
            )
        )
    return found


def notice_progress(session: Session, notice_id: int, where: ColumnElement[bool]) -> NoticeProgress:
    """One notice and how far it is. Raises NotFound if there is no such notice in scope (one answer for both)."""
    notice = session.scalar(select(Notice).where(Notice.id == notice_id, _visible(where)))
    if notice is None:
        raise NotFound("notice", str(notice_id))
    return _progress(session, [notice])[0]


def list_notices(session: Session, where: ColumnElement[bool], limit: int = LIST_LIMIT) -> list[NoticeProgress]:
    """The latest notices in scope, newest first, each with its progress."""
    notices = list(session.scalars(select(Notice).where(_visible(where)).order_by(Notice.id.desc()).limit(limit)))
    return _progress(session, notices)
