"""The rate toward the provider, shared by every worker through Redis: adding workers never breaks Twilio's
limit (1 SMS a second on a long code, 1 call a second per account by default).

Built on the `limits` library's moving window: at most N sends in any window, counted in Redis. Urgent sends
(task offers, feedback) go first: when one is refused a token, it raises a flag for a few seconds, and bulk
check-in sends step aside while the flag is up.
"""

from __future__ import annotations

import time
from fractions import Fraction

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis import Redis

URGENT_FLAG_MS = 30_000  # how long bulk sends step aside after an urgent send was made to wait (its retry comes sooner)
BULK_YIELD_SECONDS = 1.0


def rate_item(per_second: float) -> RateLimitItem | None:
    """A limit of `per_second` (None: no limit), as N sends in a window of M seconds: 1 → 1 per 1 s, 0.5 → 1 per
    2 s, 1.5 → 3 per 2 s. The smallest window keeps bursts as short as the rate allows."""
    if per_second <= 0:
        return None
    rate = Fraction(per_second).limit_denominator(60)
    return RateLimitItemPerSecond(max(1, rate.numerator), rate.denominator)


class Throttle:
    """Tokens for sending, per kind ("sms" per sender, "calls" per account)."""

    def __init__(self, redis: Redis, *, sms_per_second: float, calls_per_second: float, sender: str) -> None:
        self._redis = redis
        self._sender = sender
        self._items = {"sms": rate_item(sms_per_second), "calls": rate_item(calls_per_second)}
        self._limiter = MovingWindowRateLimiter(
            RedisStorage("redis://", connection_pool=redis.connection_pool, key_prefix="hotline-rate")
        )

    def limited(self, kind: str) -> bool:
        """False if sends of `kind` have no limit."""
        return self._items[kind] is not None

    def wait(self, kind: str, *, bulk: bool = False) -> float:
        """Take a token for one send of `kind`: 0.0 if taken (go now), else the seconds to wait first."""
        item = self._items[kind]
        if item is None:
            return 0.0
        flag = f"hotline-rate:urgent-waiting:{kind}:{self._sender}"
        if bulk and self._redis.exists(flag):
            return BULK_YIELD_SECONDS
        if self._limiter.hit(item, kind, self._sender):
            return 0.0
        if not bulk:
            self._redis.set(flag, 1, px=URGENT_FLAG_MS)
        stats = self._limiter.get_window_stats(item, kind, self._sender)
        return max(0.05, stats.reset_time - time.time())


def throttle_kind(outbound_kind: str) -> str:
    """Which limit an outbound row counts against."""
    return "sms" if outbound_kind == "sms" else "calls"
