"""The rules of the daily check-in: when, how, quiet hours, and when each rung of its ladder is due."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dispatch.models import Channel, ResidentCategory

# The rungs of the task ladder that each get an acceptance window: the liaison, the backup and the grid leader.
# Duty staff, the last rung, are alerted when the grid leader's window lapses.
ACCEPT_RUNGS = 3
# The least time a resident has to answer a check-in before its reminder and call, when it was sent so late that
# the whole window would carry its ladder past the day's deadline.
SHORTEST_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class CheckinRules:
    """Defaults for every plan, and the ladder's timings. Built from settings once per process.

    The ladder is planned backwards from the deadline: the visit task is offered `visit_lead` before it, so that
    with each rung's window (`rung_window`, a visit being urgent) someone has taken it by the deadline, or duty
    staff are alerted at it. `plan_problem` says whether a check-in time leaves room for that."""

    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    times: tuple[time, ...] = (time(9, 0),)
    observation_times: tuple[time, ...] = (time(9, 0), time(15, 0))
    observation_days: int = 14
    window: timedelta = timedelta(hours=2)  # no answer by then: a reminder, and a call
    deadline: time = time(12, 0)  # by then, every check-in is answered or its visit has a taker (or staff know)
    quiet_hours: tuple[time, time] = (time(21, 0), time(7, 0))
    call_retries: int = 3
    call_retry: timedelta = timedelta(minutes=10)
    rung_window: timedelta = timedelta(minutes=10)  # HOTLINE_URGENT_ACCEPT_MINUTES: each rung's time to take a visit

    @property
    def visit_lead(self) -> timedelta:
        """How long before its deadline a visit is offered: one acceptance window per rung before duty staff."""
        return ACCEPT_RUNGS * self.rung_window

    @property
    def calls_span(self) -> timedelta:
        """From the reminder's call to the last retry's."""
        return self.call_retries * self.call_retry

    def zone(self, community_timezone: str | None) -> ZoneInfo:
        """The community's timezone if it has one, else the hotline's."""
        return ZoneInfo(community_timezone) if community_timezone else self.timezone

    def is_quiet(self, moment: datetime, zone: ZoneInfo) -> bool:
        """True if `moment` falls in quiet hours where the resident lives."""
        local = moment.astimezone(zone).time()
        start, end = self.quiet_hours
        return (start <= local or local < end) if start > end else start <= local < end

    def in_quiet_hours(self, slot: time) -> bool:
        """True if a plan's time of day is inside quiet hours (such a plan is refused)."""
        return self.is_quiet(datetime.combine(date(2000, 1, 3), slot, self.timezone), self.timezone)

    def ladder_times(self, sent_at: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """When the reminder and the visit are due for a check-in sent at `sent_at`.

        The reminder comes a window after sending. The visit is offered `visit_lead` before the day's deadline, so
        that it has a taker by then; but never before the reminder's call and its retries have been placed (an
        afternoon slot, whose own deadline is then its visit's time plus `visit_lead`: `due_by`).

        A check-in sent before the deadline whose whole window would carry its ladder past it (the 09:00 wave still
        going out at 09:05, a service down until 10:30, a resident's own plan at 10:00) keeps the day's deadline
        where it can: its window is shortened so that the reminder's calls end by the visit's time, but never to
        less than `SHORTEST_WINDOW` after sending. So one sent after 10:45 (by default) is late by as much as it was
        sent after it, not by a whole window; one sent at or after the deadline has a whole window of its own."""
        reminder = sent_at + self.window
        local = sent_at.astimezone(zone)
        deadline = datetime.combine(local.date(), self.deadline, zone)
        latest = deadline - self.visit_lead - self.calls_span  # the last reminder whose calls end by the visit
        if sent_at < deadline and latest < reminder:
            reminder = max(latest, sent_at + min(self.window, SHORTEST_WINDOW))
        return reminder, max(deadline - self.visit_lead, reminder + self.calls_span)

    def call_visit_time(self, called_at: datetime, zone: ZoneInfo) -> datetime:
        """When the visit is due for a check-in that starts with a call at `called_at` (no SMS, no window): as the
        day's other check-ins' visits, `visit_lead` before the deadline, but never before its call's retries."""
        deadline = datetime.combine(called_at.astimezone(zone).date(), self.deadline, zone)
        return max(deadline - self.visit_lead, called_at + self.calls_span)

    def due_by(self, visit_at: datetime) -> datetime:
        """The deadline of a check-in whose visit is offered at `visit_at`: its ladder has run out by then."""
        return visit_at + self.visit_lead

    def plan_problem(self) -> str | None:
        """Why the day's plan cannot keep the deadline, or None if it can: for every check-in time before the
        deadline, the window and the calls must be over by the time the visit must be offered."""
        latest_visit = datetime.combine(date(2000, 1, 3), self.deadline) - self.visit_lead
        for slot in sorted({*self.times, *self.observation_times}):
            if slot >= self.deadline:
                continue  # an afternoon check-in: its own deadline follows its ladder
            last_call = datetime.combine(date(2000, 1, 3), slot) + self.window + self.calls_span
            if last_call > latest_visit:
                minutes = int(self.visit_lead.total_seconds() // 60)
                return (
                    f"{self.deadline:%H:%M} leaves no room for the {slot:%H:%M} check-in: its window and calls run to "
                    f"{last_call:%H:%M}, but its visit must be offered by {latest_visit:%H:%M} "
                    f"({ACCEPT_RUNGS} rungs of {minutes // ACCEPT_RUNGS} minutes before the deadline). "
                    "Move the deadline later, the check-in earlier, or shorten HOTLINE_CHECKIN_WINDOW_MINUTES, "
                    "HOTLINE_CALL_RETRIES, HOTLINE_CALL_RETRY_MINUTES or HOTLINE_URGENT_ACCEPT_MINUTES"
                )
        return None

    def default_times(self, categories: list[str], registered_on: date, day: date) -> tuple[time, ...]:
        """The times of day a resident's categories call for: twice a day under observation, for its first
        `observation_days` after registration; once a day otherwise."""
        observing = ResidentCategory.UNDER_OBSERVATION in categories
        if observing and day < registered_on + timedelta(days=self.observation_days):
            return self.observation_times
        return self.times


def contact_channel(channel: str, landline: bool | None) -> str:
    """How to reach a resident: by call if they are on voice or their first number is a landline."""
    return Channel.VOICE if channel == Channel.VOICE or landline else Channel.SMS


def call_key(checkin_id: int, attempt: int) -> str:
    """The outbox dedupe key of a check-in's `attempt`-th call: each call is decided once."""
    return f"checkin:{checkin_id}:call:{attempt}"


def call_attempt(dedupe_key: str) -> int:
    """Which attempt a check-in call's dedupe key names."""
    return int(dedupe_key.rsplit(":", 1)[1])


BACK_SLOT = "back"  # the slot of a welcome-back call's check-in (`dispatch.checkins.returns`)


def slot_name(slot: time) -> str:
    """A plan time as a check-in slot: "09:00"."""
    return slot.strftime("%H:%M")
