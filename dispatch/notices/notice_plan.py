"""Who a notice reaches and what it costs, decided before anything is sent; `preview` shows it to staff.

Who gets what: active residents only (opted-out, paused, moved-away ones are counted as skipped). "sms": an SMS to
each resident who reads SMS (channel sms, with a mobile); those on voice or with only landlines get a call instead,
so nobody is missed. "call": a call to everyone at their first number (it says the text twice). "both": the SMS as
above and a call to everyone. One copy per phone per channel (key `notice:<id>:<channel>:<phone>`). The SMS go
first, then the calls, at the configured rates (0 is no limit).

Quiet hours (HOTLINE_QUIET_HOURS, where the resident lives): no automated call rings then, nor starts if the calls
would still be going when they begin. A notice by "call" or "both" is then refused; one by "sms" leaves out the
fallback calls (skipped: quiet_hours), so staff see whom to call in the morning. Refused, not held: an old man
woken at 23:00 by a recorded voice is frightened, not informed; and news at 22:00 may be wrong by 07:00, so staff
decide again. A notice may instead be scheduled for a later time outside quiet hours (`notice_schedule`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, false, func, not_, select
from sqlalchemy.orm import Session

from dispatch.checkins.rules import CheckinRules
from dispatch.exceptions import InvalidAction, NotFound
from dispatch.models import (
    Channel,
    Community,
    Grid,
    Household,
    Resident,
    ResidentCategory,
    ResidentPhone,
    ResidentStatus,
    utcnow,
)
from dispatch.segments import count_segments
from dispatch.sms_templates import TemplateTable

CHANNELS = ("sms", "call", "both")
TARGET_KINDS = ("community", "grid", "category")
BODY_LIMIT = 300  # characters: five SMS segments in Chinese, and about a minute and a half when a call says it


@dataclass(frozen=True)
class Problem:
    """Why a notice cannot go as it is: a code for the console's words, its fields, and a message in English."""

    code: str  # empty_body, body_too_long, template_unfit, quiet_hours, nobody, start_past, start_quiet
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


def outside_scope(where: ColumnElement[bool]) -> ColumnElement[bool]:
    """Households the scope does not admit (a NULL in the filter counts as outside)."""
    return not_(func.coalesce(where, false()))


def _any(session: Session, clause: ColumnElement[bool]) -> bool:
    return session.scalar(select(Household.id).where(clause).limit(1)) is not None


def find_target(session: Session, where: ColumnElement[bool], kind: str, target: str, channels: str) -> _Target:
    """What a notice is addressed to, wholly within the scope (a grid leader cannot send to their community).
    Raises NotFound if there is no such community or grid in scope (one answer for both); InvalidAction for an
    unknown channel, kind or category, a grid name in several communities, or a target partly outside the scope."""
    if channels not in CHANNELS:
        raise InvalidAction(f"channels: one of {', '.join(CHANNELS)}", "notice_channels")
    target = target.strip()
    if kind == "category":
        if target not in set(ResidentCategory):
            raise InvalidAction(
                f"unknown category {target!r}; one of {', '.join(ResidentCategory)}", "unknown_category", value=target
            )
        return _Target(kind, target, None, Household.id.is_not(None))
    if kind == "community":
        query = select(Community.id, Community.name, Community.id).where(Community.name == target)
    elif kind == "grid":
        community, _, grid = target.rpartition("/")
        query = select(Grid.id, Grid.name, Grid.community_id).join(Community).where(Grid.name == grid.strip())
        query = query.where(Community.name == community.strip()) if community else query
    else:
        raise InvalidAction(f"a notice goes to one of: {', '.join(TARGET_KINDS)}", "notice_target_kind")
    column = Household.community_id if kind == "community" else Household.grid_id
    found = [row for row in session.execute(query) if _any(session, and_(column == row[0], where))]
    if not found:
        raise NotFound(kind, target)
    if len(found) > 1:
        raise InvalidAction(
            f"grid {target!r} is in several communities; write community/grid", "notice_grid_ambiguous", value=target
        )
    if _any(session, and_(column == found[0][0], outside_scope(where))):
        raise InvalidAction(
            f"part of {kind} {target!r} is outside your part of the register; choose your own",
            "notice_outside_scope",
            value=target,
        )
    return _Target(kind, found[0][1], found[0][2], column == found[0][0])


def _quiet_during(rules: CheckinRules, zone: ZoneInfo, start: datetime, end: datetime) -> bool:
    """True if any moment from `start` to `end` is in quiet hours where `zone` is."""
    if rules.is_quiet(start, zone) or rules.is_quiet(end, zone):
        return True
    day = start.astimezone(zone).date()
    return any(start <= datetime.combine(day + timedelta(days=n), rules.quiet_hours[0], zone) <= end for n in (0, 1))


def _seconds(count: int, rate: float) -> float:
    return count / rate if rate > 0 else 0.0


def plan_copies(
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


def plan_problems(
    body: str, plan: _Plan, rules: CheckinRules, channels: str = "sms", templates: TemplateTable | None = None
) -> tuple[Problem, ...]:
    """Why the notice cannot go as it is. With `templates` (a gateway that sends approved templates only), its SMS
    must fit the notice template: refused now, never at send time."""
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
    unfit = templates.notice_problem(body) if templates is not None and body and channels != "call" else None
    if unfit is not None and templates is not None:
        found.append(Problem("template_unfit", unfit, {"limit": templates.notice_longest}))
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


def start_problem(starts_at: datetime, now: datetime, rules: CheckinRules) -> Problem | None:
    """Why a notice cannot be scheduled for `starts_at` (the hotline's local time, as UTC): a time past (the
    minute now is still allowed: it starts at the scheduler's next turn), or in quiet hours where the hotline
    is."""
    if starts_at < now.replace(second=0, microsecond=0):
        return Problem("start_past", "the start time has passed; choose a later time")
    if rules.is_quiet(starts_at, rules.timezone):
        start, end = (t.strftime("%H:%M") for t in rules.quiet_hours)
        return Problem(
            "start_quiet",
            f"a notice cannot start in quiet hours ({start}-{end}); choose a time from {end} to {start}",
            {"start": start, "end": end},
        )
    return None


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
    templates: TemplateTable | None = None,
    starts_at: datetime | None = None,
) -> NoticePreview:
    """What `send_notice` would do now, without doing it. Problems (an empty or too long text, calls in quiet
    hours, nobody to reach, an SMS that fits no approved template, a start past or in quiet hours) are listed, not
    raised; a target unknown or outside the scope raises as in `send_notice`. With `starts_at`, as it would go
    then."""
    rules, body, now = rules or CheckinRules(), body.strip(), now or utcnow()
    found = find_target(session, where, target_kind, target, channels)
    plan = plan_copies(
        session, where, found, channels, now=starts_at or now, rules=rules, rates=(sms_per_second, calls_per_second)
    )
    late = start_problem(starts_at, now, rules) if starts_at is not None else None
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
        (*([late] if late else []), *plan_problems(body, plan, rules, channels, templates)),
    )
