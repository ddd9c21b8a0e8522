"""Handing what a console or API action decided to the queue, after its transaction has committed."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from hotline.services import Services
from workers.queues import enqueue_send

log = logging.getLogger(__name__)


async def send_decided(services: Services, outbound_ids: list[int]) -> None:
    """Queue each decided SMS or call. If Redis is down they stay stored as pending; the sweeper queues them."""
    for outbound_id in outbound_ids:
        try:
            await run_in_threadpool(enqueue_send, services.redis, outbound_id)
        except RedisError as exc:
            log.error("outbound %s stored but not queued (%s); the sweeper will queue it", outbound_id, exc)
