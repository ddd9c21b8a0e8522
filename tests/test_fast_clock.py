"""The demo's fast clock: every process of one demo agrees on one simulated time, and only with the local gateway."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dispatch import outbox
from dispatch.models import clock_span, utcnow
from dispatch.models.base import set_clock
from hotline.exceptions import SettingsError
from hotline.services import FastClock, Services
from hotline.settings import Settings, load_settings

SIMULATED_START = datetime(2030, 3, 4, 0, 58, tzinfo=UTC)  # 08:58 in Shanghai
ROUNDING = timedelta(milliseconds=1)  # epoch floats are rounded to microseconds


def test_fast_clock_runs_speed_times_faster_from_its_shared_start() -> None:
    real_start = time.time() - 10  # started ten real seconds ago
    clock = FastClock(30, real_start, SIMULATED_START.timestamp())
    before = time.time()
    elapsed = clock() - SIMULATED_START
    after = time.time()
    # 30 times the real seconds since the start, read between `before` and `after` (however slow the machine);
    # a millisecond for the rounding of epoch floats to microseconds
    low, high = timedelta(seconds=30 * (before - real_start)), timedelta(seconds=30 * (after - real_start))
    assert low - ROUNDING <= elapsed <= high + ROUNDING
    assert elapsed >= timedelta(minutes=5) - ROUNDING  # 10 s x 30
    # A second process with the same settings reads the same time: read between two readings of the first.
    again = FastClock(30, real_start, SIMULATED_START.timestamp())
    first, second, third = clock(), again(), clock()
    assert first <= second <= third


def test_services_install_the_fast_clock_behind_utcnow(settings: Settings) -> None:
    began = time.time()
    fast = replace(settings, clock_speed=60.0, clock_start=(began, SIMULATED_START.timestamp()))
    try:
        built = Services.build(fast)
        # 60 times the real seconds since `began`, however slow the machine: the simulated time, not the real one
        now = utcnow()
        latest = SIMULATED_START + timedelta(seconds=60 * (time.time() - began)) + ROUNDING
        assert SIMULATED_START - ROUNDING <= now <= latest
        jobs_now = built.clock()  # jobs' clock is the same one
        assert now <= jobs_now <= SIMULATED_START + timedelta(seconds=60 * (time.time() - began)) + ROUNDING
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
        **base,
        "HOTLINE_CLOCK_START": "1700000000@1900000000",
        "TWILIO_ACCOUNT_SID": "AC" + "a" * 32,
        "TWILIO_AUTH_TOKEN": "x" * 32,
        "TWILIO_FROM_NUMBER": "+8657112345678",
        "HOTLINE_DUTY_PHONE": "+8657112345679",
        "HOTLINE_PUBLIC_URL": "https://hotline.example.org",
    }
    with pytest.raises(SettingsError, match="only with HOTLINE_GATEWAY=local"):
        load_settings(twilio, env_file=None)
    with pytest.raises(SettingsError, match="HOTLINE_CLOCK_SPEED"):
        load_settings({**base, "HOTLINE_CLOCK_SPEED": "fast"}, env_file=None)


def test_a_send_under_way_is_not_taken_for_abandoned_on_a_fast_clock(settings: Settings, services: Services) -> None:
    """The lease on a claimed send is real time: under a clock 3,600 times faster, a send claimed a real second
    ago is still under way (the five-minute lease read on the clock would have lapsed after 83 ms)."""
    with services.sessions.begin() as session:
        row = outbox.queue_sms(session, dedupe_key="under-way", to_phone="+8613912345678", body="请回电")
        assert row is not None
    began = time.time()
    set_clock(FastClock(3600, began, SIMULATED_START.timestamp()), 3600)
    try:
        assert clock_span(timedelta(minutes=5)) == timedelta(hours=300)
        with services.sessions.begin() as session:
            assert outbox.claim_for_sending(session, row.id) is not None
        while time.time() - began < 1.0:  # a real second: an hour of the fast clock
            time.sleep(0.05)
        with services.sessions.begin() as session:
            assert outbox.abandon_stale_claims(session, lease=timedelta(minutes=5)) == []
    finally:
        set_clock(None)
    assert clock_span(timedelta(minutes=5)) == timedelta(minutes=5)
