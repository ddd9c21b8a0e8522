"""The daily check-in's settings: its schedule, its ladder, quiet hours and the rates toward the provider."""

from __future__ import annotations

from collections.abc import Callable
from datetime import time, timedelta
from typing import Any

from dispatch.checkins.rules import CheckinRules
from hotline.exceptions import SettingsError


def checkin_settings(text: Callable[[str, str], str | None], gateway: str) -> dict[str, Any]:
    """The daily check-in schedule, its ladder, quiet hours and the rates toward the provider."""
    found: dict[str, Any] = {}
    for field_name, name, default in (
        ("checkin_times", "HOTLINE_CHECKIN_TIMES", "09:00"),
        ("observation_times", "HOTLINE_OBSERVATION_TIMES", "09:00,15:00"),
    ):
        raw = text(name, default) or default
        try:
            found[field_name] = tuple(sorted({time.fromisoformat(t.strip()) for t in raw.split(",") if t.strip()}))
        except ValueError:
            raise SettingsError(name, "must be times of day such as 09:00,15:00") from None
    for field_name, name, default in (("checkin_deadline", "HOTLINE_CHECKIN_DEADLINE", "12:00"),):
        try:
            found[field_name] = time.fromisoformat(text(name, default) or default)
        except ValueError:
            raise SettingsError(name, "must be a time of day such as 12:00") from None
    quiet = (text("HOTLINE_QUIET_HOURS", "21:00-07:00") or "21:00-07:00").split("-")
    try:
        found["quiet_hours"] = (time.fromisoformat(quiet[0].strip()), time.fromisoformat(quiet[1].strip()))
    except (ValueError, IndexError):
        raise SettingsError("HOTLINE_QUIET_HOURS", "must be two times such as 21:00-07:00") from None
    for field_name, name, default, low, high in (
        ("observation_days", "HOTLINE_OBSERVATION_DAYS", "14", 1, 60),
        ("checkin_window_minutes", "HOTLINE_CHECKIN_WINDOW_MINUTES", "120", 5, 720),
        ("call_retries", "HOTLINE_CALL_RETRIES", "3", 0, 10),
        ("call_retry_minutes", "HOTLINE_CALL_RETRY_MINUTES", "10", 1, 120),
    ):
        raw = text(name, default) or default
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise SettingsError(name, f"must be a whole number from {low} to {high}")
        found[field_name] = int(raw)
    # Twilio: 1 SMS a second on a long code, 1 call a second per account. The local gateway has no limit.
    rate_default = "1" if gateway == "twilio" else "0"
    for field_name, name in (("sms_per_second", "HOTLINE_SMS_PER_SECOND"), ("calls_per_second", "HOTLINE_CPS")):
        raw = text(name, rate_default) or rate_default
        try:
            rate = float(raw)
        except ValueError:
            rate = -1.0
        if not 0 <= rate <= 10000:
            raise SettingsError(name, "must be a number of messages per second from 0 (no limit) to 10000")
        found[field_name] = rate
    return found


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
