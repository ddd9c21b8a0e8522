"""The console's sign-in throttle: failed sign-ins, counted in Redis per (username, address) and per address.

Only failures count, so staff who sign in often are never locked out, and no one can lock an account out from
elsewhere: ten wrong passwords for "admin" from one address refuse "admin" from that address only (OWASP's
authentication cheat sheet: limit per account and source, plus a larger limit per source across accounts). The
address is the client uvicorn reports: the connecting one, or the one nginx forwarded when nginx's address is in
FORWARDED_ALLOW_IPS (DEPLOY.md).

If Redis is down, sign-in is not throttled (logged): staff must reach the console when things go wrong.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

WINDOW_SECONDS = 15 * 60
# More than anyone makes mistyping their own password, few enough that guessing a password of 10 characters or
# more from one place gets nowhere (at most 40 guesses an hour per account).
PER_ACCOUNT_AND_ADDRESS = 10
# Across usernames: a community office behind one NAT address, a dozen clerks each mistyping a few times, stays
# well under it, while one address trying a common password against every username is stopped after fifty.
# Fixed, not settings: no deployment has needed other numbers, and a setting here could only be set wrong.
PER_ADDRESS = 50
KEY_PREFIX = "hotline-login"


@dataclass(frozen=True)
class LoginAttempt:
    """One sign-in attempt's place in the counts: `allowed`, and the slot to give back if its password is right."""

    allowed: bool
    keys: tuple[str, ...] = ()
    slot: str = ""


class LoginThrottle:
    """Failed sign-ins in the last 15 minutes, each count a Redis sorted set of attempt slots scored by time."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    @staticmethod
    def keys(username: str, address: str) -> tuple[str, str]:
        """The two counts an attempt falls in: its (username, address) and its address.

        The username is hashed: it is whatever was typed, of any length, sometimes a password in the wrong box.
        """
        typed = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:24]
        return f"{KEY_PREFIX}:pair:{address}:{typed}", f"{KEY_PREFIX}:addr:{address}"

    def attempt(self, username: str, address: str) -> LoginAttempt:
        """Take a slot in both counts before the password is checked, so guesses sent in parallel count too.

        Args:
            username: As typed.
            address: The client's address.

        Returns:
            Not allowed (and no slot kept, so refusals do not extend the lockout) if either count is full.
        """
        now = time.time()
        slot = f"{now:.6f}-{secrets.token_hex(4)}"
        keys = self.keys(username, address)
        try:
            pipe = self._redis.pipeline(transaction=True)
            for key in keys:
                pipe.zremrangebyscore(key, "-inf", now - WINDOW_SECONDS)
                pipe.zadd(key, {slot: now})
                pipe.zcard(key)
                pipe.expire(key, WINDOW_SECONDS)
            answers = pipe.execute()
            if answers[2] > PER_ACCOUNT_AND_ADDRESS or answers[6] > PER_ADDRESS:
                self._give_back(keys, slot)
                return LoginAttempt(allowed=False)
        except RedisError as exc:
            log.error("login throttle: Redis unavailable (%s); not throttling", type(exc).__name__)
            return LoginAttempt(allowed=True)
        return LoginAttempt(allowed=True, keys=keys, slot=slot)

    def succeeded(self, attempt: LoginAttempt) -> None:
        """The password was right: give the attempt's slot back, so a sign-in never counts toward a lockout."""
        if not attempt.keys:
            return
        try:
            self._give_back(attempt.keys, attempt.slot)
        except RedisError as exc:
            log.error("login throttle: Redis unavailable (%s); a sign-in stays counted", type(exc).__name__)

    def _give_back(self, keys: tuple[str, ...], slot: str) -> None:
        pipe = self._redis.pipeline(transaction=True)
        for key in keys:
            pipe.zrem(key, slot)
        pipe.execute()
