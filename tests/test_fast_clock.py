"""The demo's fast clock: every process of one demo agrees on one simulated time, and only with the local gateway."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dispatch.models import utcnow
from dispatch.models.base import set_clock
from hotline.exceptions import SettingsError
from hotline.services import FastClock, Services
from hotline.settings import Settings, load_settings

SIMULATED_START = datetime(2030, 3, 4, 0, 58, tzinfo=UTC)  # 08:58 in Shanghai


def test_fast_clock_runs_speed_times_faster_from_its_shared_start() -> None:
    real_start = time.time() - 10  # started ten real seconds ago
    clock = FastClock(30, real_start, SIMULATED_START.timestamp())
    elapsed = clock() - SIMULATED_START
    assert timedelta(minutes=5) <= elapsed < timedelta(minutes=5, seconds=30)  # 10 s x 30, plus this test's time
    # A second process with the same settings reads the same time.
    again = FastClock(30, real_start, SIMULATED_START.timestamp())
    assert abs(again() - clock()) < timedelta(seconds=3)


def test_services_install_the_fast_clock_behind_utcnow(settings: Settings) -> None:
    fast = replace(settings, clock_speed=60.0, clock_start=(time.time(), SIMULATED_START.timestamp()))
    try:
        built = Services.build(fast)
        assert abs(utcnow() - SIMULATED_START) < timedelta(minutes=5)
        assert abs(built.clock() - SIMULATED_START) < timedelta(minutes=5)  # jobs' clock is the same one
        built.close()
    finally:
        set_clock(None)
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(seconds=5)


def test_the_fast_clock_is_refused_with_twilio_and_needs_its_start(tmp_path: Path) -> None:
    base = {"HOTLINE_DATA_DIR": str(tmp_path), "HOTLINE_CLOCK_SPEED": "30"}
    with pytest.raises(SettingsError, match="HOTLINE_CLOCK_START"):
        load_settings(base, env_file=None)
    started = load_settings({**base, "HOTLINE_CLOCK_START": "1700000000@1900000000"}, env_file=None)
    assert (started.clock_speed, started.clock_start) == (30.0, (1700000000.0, 1900000000.0))
    twilio = {
        **base, "HOTLINE_CLOCK_START": "1700000000@1900000000", "TWILIO_ACCOUNT_SID": "AC" + "a" * 32,
        "TWILIO_AUTH_TOKEN": "x" * 32, "TWILIO_FROM_NUMBER": "+8657112345678", "HOTLINE_DUTY_PHONE": "+8657112345679",
        "HOTLINE_PUBLIC_URL": "https://hotline.example.org",
    }  # fmt: skip
    with pytest.raises(SettingsError, match="only with HOTLINE_GATEWAY=local"):
        load_settings(twilio, env_file=None)
    with pytest.raises(SettingsError, match="HOTLINE_CLOCK_SPEED"):
        load_settings({**base, "HOTLINE_CLOCK_SPEED": "fast"}, env_file=None)
