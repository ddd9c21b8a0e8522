"""The check-in tick makes the day once, whichever process ticks: one tick at a time makes it, the others send."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from dispatch.checkins import schedule
from dispatch.models import Checkin
from hotline.jobs import checkins as checkin_jobs
from hotline.services import Services
from tests.conftest import Clock, at


def checkins_made(services: Services) -> int:
    with services.readonly() as session:
        return int(session.scalar(select(func.count(Checkin.id))) or 0)


def test_the_day_is_made_once_for_every_worker_and_again_when_the_day_changes(
    services: Services, clock: Clock, town: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_make, calls = schedule.make_checkins, []
    monkeypatch.setattr(checkin_jobs, "make_checkins", lambda *a, **k: calls.append(1) or real_make(*a, **k))
    clock.now = at("08:00")
    assert checkin_jobs.checkin_tick()["made"] == 9  # nine residents, one under observation: two slots, one opted out
    made = checkins_made(services)
    checkin_jobs.checkin_tick()
    assert calls == [1]  # unchanged: not even tried; a worker in another process reads the same mark in Redis
    assert services.redis.get(checkin_jobs.MADE_KEY) is not None
    clock.now = at("08:00").replace(day=at("08:00").day + 1)  # a new day: made again
    assert checkin_jobs.checkin_tick()["made"] > 0
    assert calls == [1, 1] and checkins_made(services) > made


def test_while_one_tick_makes_the_day_another_does_not_make_it_too(
    services: Services, clock: Clock, town: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.now = at("08:00")
    inside, go_on = threading.Event(), threading.Event()
    real_make = schedule.make_checkins
    calls = []

    def slow_make(*args: object, **kwargs: object) -> int:
        calls.append(1)
        inside.set()
        go_on.wait(10)
        return real_make(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(checkin_jobs, "make_checkins", slow_make)
    first: dict[str, dict[str, int]] = {}
    maker = threading.Thread(target=lambda: first.update(counts=checkin_jobs.checkin_tick()))
    maker.start()
    assert inside.wait(10)
    assert checkin_jobs.checkin_tick()["made"] == 0  # the other tick goes on to send what is due, and returns
    go_on.set()
    maker.join(20)
    assert first["counts"]["made"] == 9 and len(calls) == 1
    assert services.redis.get(checkin_jobs.MAKING_KEY) is None  # released


def test_a_making_hold_left_by_a_dead_worker_lapses(services: Services, clock: Clock, town: dict[str, int]) -> None:
    clock.now = at("08:00")
    services.redis.set(checkin_jobs.MAKING_KEY, "a worker that died", ex=1)
    assert checkin_jobs.checkin_tick()["made"] == 0
    services.redis.delete(checkin_jobs.MAKING_KEY)  # as its expiry would, a little later
    assert checkin_jobs.checkin_tick()["made"] == 9
    assert services.redis.ttl(checkin_jobs.MAKING_KEY) == -2  # gone, not left behind
    assert 0 < checkin_jobs.MAKING_SECONDS <= 3600
