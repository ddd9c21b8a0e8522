"""The daily check-in's settings: its schedule, its ladder, quiet hours and the rates toward the provider."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dispatch.checkins.rules import CheckinRules
from hotline.exceptions import SettingsError
from hotline.settings_reader import Found, Setting, number, time_of_day, time_span, times_of_day, whole


def _rate_default(found: Found) -> str:
    # Twilio: 1 SMS a second on a long code, 1 call a second per account. The local gateway has no limit.
    return "1" if found["gateway"] == "twilio" else "0"


_RATE = number(0, 10000, "must be a number of messages per second from 0 (no limit) to 10000")

CHECKIN_SETTINGS: tuple[Setting, ...] = (
    Setting("HOTLINE_CHECKIN_TIMES", "checkin_times", times_of_day, "09:00", "local times of the daily check-in"),
    Setting(
        "HOTLINE_OBSERVATION_TIMES",
        "observation_times",
        times_of_day,
        "09:00,15:00",
        "the same for residents under observation",
    ),
    Setting(
        "HOTLINE_CHECKIN_DEADLINE",
        "checkin_deadline",
        time_of_day("12:00"),
        "12:00",
        "every check-in answered or its visit taken by then",
    ),
    Setting("HOTLINE_QUIET_HOURS", "quiet_hours", time_span, "21:00-07:00", "no automated contact then"),
    Setting(
        "HOTLINE_OBSERVATION_DAYS",
        "observation_days",
        whole(1, 60),
        "14",
        "how long a new resident is under observation",
    ),
    Setting(
        "HOTLINE_CHECKIN_WINDOW_MINUTES",
        "checkin_window_minutes",
        whole(5, 720),
        "120",
        "no answer this long: a reminder, and a call",
    ),
    Setting("HOTLINE_CALL_RETRIES", "call_retries", whole(0, 10), "3", "a check-in call tried this many more times"),
    Setting("HOTLINE_CALL_RETRY_MINUTES", "call_retry_minutes", whole(1, 120), "10", "…this far apart"),
    Setting("HOTLINE_SMS_PER_SECOND", "sms_per_second", _RATE, _rate_default, "SMS per second per sender; 0: no limit"),
    Setting("HOTLINE_CPS", "calls_per_second", _RATE, _rate_default, "calls per second per account; 0: no limit"),
)


def check_plan(found: dict[str, Any], urgent_accept_minutes: int) -> None:
    """Refuse a day whose plan cannot keep the deadline: each check-in before it needs its window, its calls, and
    a visit offered early enough to climb every rung's acceptance window by then.

    Raises:
        SettingsError: naming HOTLINE_CHECKIN_DEADLINE, with the times that collide.
    """
    rules = CheckinRules(
        times=found["checkin_times"],
        observation_times=found["observation_times"],
        window=timedelta(minutes=found["checkin_window_minutes"]),
        deadline=found["checkin_deadline"],
        call_retries=found["call_retries"],
        call_retry=timedelta(minutes=found["call_retry_minutes"]),
        rung_window=timedelta(minutes=urgent_accept_minutes),
    )
    problem = rules.plan_problem()
    if problem is not None:
        raise SettingsError("HOTLINE_CHECKIN_DEADLINE", problem)
