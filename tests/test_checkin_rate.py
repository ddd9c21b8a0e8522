"""The provider's rate: check-ins go out no faster than the configured SMS per second, across workers, and an
urgent send waiting for the rate makes the campaign step aside."""

from __future__ import annotations

import math
import re
import time

import pytest
from rq import Queue
from rq.registry import ScheduledJobRegistry

from hotline.jobs import checkins as checkin_jobs
from hotline.services import Services
from tests.conftest import Clock, at, local_outbox
from workers.queues import CHECKINS
from workers.throttle import BULK_YIELD_SECONDS, Throttle


@pytest.fixture
def environ(environ: dict[str, str]) -> dict[str, str]:
    return {**environ, "HOTLINE_SMS_PER_SECOND": "2"}


def test_a_campaign_batch_sends_at_the_rate_and_queues_the_rest(
    services: Services,
    clock: Clock,
    town: dict[str, int],
) -> None:
    clock.now = at("09:00")
    assert checkin_jobs.checkin_tick()["sent"] == 7
    [job] = Queue(CHECKINS, connection=services.redis).jobs
    began = time.monotonic()
    answer = checkin_jobs.send_batch(*job.args)
    elapsed = time.monotonic() - began
    handed, queued = (int(n) for n in re.findall(r"\d+", answer))
    # The burst of two at once, and no more than the rate allows for however long the batch took on this machine
    # (a busy one may take over half a second, and earn a third); the call and the rest wait.
    assert 2 <= handed <= 2 + 2 * math.ceil(elapsed) and handed + queued == 8, (answer, elapsed)
    assert len([e for e in local_outbox(services) if e.kind == "sms"]) == handed
    waiting = ScheduledJobRegistry(queue=Queue(CHECKINS, connection=services.redis))  # type: ignore[no-untyped-call]
    assert len(waiting.get_job_ids()) == 1  # the rest, after the wait the limit asks for


def test_two_workers_share_one_limit(services: Services) -> None:
    first, second = (
        Throttle(services.redis, sms_per_second=2, calls_per_second=1, sender="+8637100000000") for _ in range(2)
    )
    taken = [t.wait("sms") == 0 for t in (first, second, first, second)]
    assert taken == [True, True, False, False]
    assert first.wait("calls") == 0 and second.wait("calls") > 0


def test_an_urgent_send_waiting_makes_bulk_sends_step_aside(services: Services) -> None:
    throttle = Throttle(services.redis, sms_per_second=1, calls_per_second=1, sender="+8637100000000")
    assert throttle.wait("sms", bulk=True) == 0
    assert throttle.wait("sms", bulk=True) > 0  # a bulk send refused raises no flag
    assert not services.redis.keys("hotline-rate:urgent-waiting:*")
    assert throttle.wait("sms") > 0  # an urgent send refused: bulk sends step aside until it has gone
    assert throttle.wait("sms", bulk=True) == BULK_YIELD_SECONDS


def test_no_limit_when_the_rate_is_zero(services: Services) -> None:
    throttle = Throttle(services.redis, sms_per_second=0, calls_per_second=0.5, sender="x")
    assert not throttle.limited("sms") and throttle.limited("calls")
    assert all(throttle.wait("sms") == 0 for _ in range(100))


def test_a_batch_that_must_wait_is_queued_again_not_dropped(
    services: Services,
    clock: Clock,
    town: dict[str, int],
) -> None:
    from tests.conftest import run_worker

    clock.now = at("09:00")
    checkin_jobs.checkin_tick()
    for _ in range(3):  # an urgent send takes the tokens, and is made to wait: the campaign must step aside
        services.throttle.wait("sms")
    run_worker(services)  # the batch runs in a real worker, hands nothing over, and queues itself again
    assert [e for e in local_outbox(services) if e.kind == "sms"] == []
    waiting = ScheduledJobRegistry(queue=Queue(CHECKINS, connection=services.redis))  # type: ignore[no-untyped-call]
    assert len(waiting.get_job_ids()) == 1


@pytest.mark.parametrize(
    ("rate", "amount", "seconds"), [(1, 1, 1), (0.5, 1, 2), (1.5, 3, 2), (10, 10, 1), (0.1, 1, 10)]
)
def test_rates_below_and_between_whole_numbers_keep_bursts_short(rate: float, amount: int, seconds: int) -> None:
    from workers.throttle import rate_item

    item = rate_item(rate)
    assert item is not None and (item.amount, item.get_expiry()) == (amount, seconds)
