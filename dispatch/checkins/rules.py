"""The rules of the daily check-in: when, how, quiet hours, and when each rung of its ladder is due."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dispatch.models import Channel, ResidentCategory


@dataclass(frozen=True)
class CheckinRules:
    """Defaults for every plan, and the ladder's timings. Built from settings once per process."""

    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    times: tuple[time, ...] = (time(9, 0),)
    observation_times: tuple[time, ...] = (time(9, 0), time(15, 0))
    observation_days: int = 14
    window: timedelta = timedelta(hours=2)  # no answer by then: a reminder, and a call
    deadline: time = time(12, 0)  # no answer by then (or an hour after the reminder): a visit task
    quiet_hours: tuple[time, time] = (time(21, 0), time(7, 0))
    call_retries: int = 3
    call_retry: timedelta = timedelta(minutes=10)

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

        The reminder comes a window after sending; the visit at the day's deadline, but never sooner than an hour
        after the reminder, so the reminder call and its retries have their chance (a late or afternoon slot)."""
        reminder = sent_at + self.window
        local = sent_at.astimezone(zone)
        deadline = datetime.combine(local.date(), self.deadline, zone)
        return reminder, max(deadline, reminder + timedelta(hours=1))

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


def slot_name(slot: time) -> str:
    """A plan time as a check-in slot: "09:00"."""
    return slot.strftime("%H:%M")
