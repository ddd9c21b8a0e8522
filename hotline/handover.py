"""Handing decided work to the queue, after the transaction that decided it has committed.

The database decides; Redis only carries work. Every entry point (webhooks, console, API, CLI, jobs) hands what it
stored to Redis here, and only here. If Redis is down the rows stay stored as pending and the sweeper queues them
later, so a handover never fails its caller: it logs which rows wait for the sweeper (ids only, never a number).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from redis import Redis
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from hotline.services import Services
from workers.queues import enqueue_batches, enqueue_inbound_many, enqueue_send, enqueue_send_many

log = logging.getLogger(__name__)

RESEND_DELAY = timedelta(minutes=1)  # a message Twilio reported undelivered because of throttling goes again after


@dataclass(frozen=True)
class Decided:
    """What a committed transaction stored for the queue to carry."""

    inbound: Sequence[int] = ()  # new inbound messages, to turn into tasks and answers
    sends: Sequence[int] = ()  # SMS and calls for the gateway, each on its own: now, or after `delay`
    delay: timedelta | None = None
    resends: Sequence[int] = ()  # SMS to go again after RESEND_DELAY (a delivery that failed for throttling)
    campaign: Sequence[int] = ()  # check-in SMS and calls, in batches on their own queue behind the others
    new_sends: Sequence[int] = ()  # SMS and calls stored just now and never queued: one job each, one round trip


def hand_over(redis: Redis, decided: Decided) -> bool:
    """Queue what was decided. Call it after the commit: a job must never find its row not yet there.

    Returns:
        False if Redis refused (the rest is logged and left to the sweeper), else True.
    """
    steps: list[tuple[str, Sequence[int], Callable[[], object]]] = []
    if decided.inbound:
        steps.append(("inbound", decided.inbound, partial(enqueue_inbound_many, redis, list(decided.inbound))))
    steps += [("outbound", [i], partial(enqueue_send, redis, i, decided.delay)) for i in decided.sends]
    if decided.new_sends:
        steps.append(("outbound", decided.new_sends, partial(enqueue_send_many, redis, list(decided.new_sends))))
    steps += [("outbound", [i], partial(enqueue_send, redis, i, RESEND_DELAY)) for i in decided.resends]
    if decided.campaign:
        steps.append(("outbound", decided.campaign, partial(enqueue_batches, redis, list(decided.campaign))))
    for done, (_, _, queue) in enumerate(steps):
        try:
            queue()
        except RedisError as exc:  # Redis is down: the sweeper finds the rest from the database
            left: dict[str, list[int]] = {}
            for what, ids, _ in steps[done:]:
                left.setdefault(what, []).extend(ids)
            rows = " ".join(f"{what}={ids}" for what, ids in left.items())
            log.error("%s stored but not queued (%s); the sweeper will queue them", rows, type(exc).__name__)
            return False
    return True


async def hand_over_async(services: Services, decided: Decided) -> bool:
    """`hand_over` from a request handler: the Redis calls run in a worker thread, off the event loop."""
    return await run_in_threadpool(hand_over, services.redis, decided)
