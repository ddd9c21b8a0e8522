"""How far a console import has come, for the import page to show while its request runs.

The import stays one request and one transaction: all rows or none. Meanwhile `ImportProgress` keeps its stage and
counts (rows checked, then rows written) in Redis, under the account and a token the page made for this upload
(the form's `progress` field), for a few minutes. `GET /register/import/progress?token=…` reads them back, from any
web process. Only the counts go there, never a row; the database decides what was imported, and a Redis that cannot
be reached means no bar, not a failed import.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from redis import Redis
from redis.exceptions import RedisError

from dispatch.progress import STAGES

log = logging.getLogger(__name__)

TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
KEEP_SECONDS = 600  # the counts outlive the import a while: the page's last poll may come after its answer
EVERY_SECONDS = 0.25  # at most this often to Redis, whatever the rows per second


def progress_key(account_id: int, token: str) -> str:
    """Where one account's one import keeps its counts: another account's token finds nothing."""
    return f"hotline:import-progress:{account_id}:{token}"


class ImportProgress:
    """A `dispatch.progress.Progress` written to Redis, a few times a second and at each stage's start and end."""

    def __init__(self, redis: Redis, key: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.redis, self.key, self.clock = redis, key, clock
        self.current, self.total, self.done = "", 0, 0
        self.written_at = float("-inf")
        self.broken = False

    def stage(self, key: str, total: int | None = None) -> None:
        self.current, self.total, self.done = key, total or 0, 0
        self._write(force=True)

    def advance(self, steps: int = 1) -> None:
        self.done += steps
        self._write(force=self.done >= self.total)

    def _write(self, *, force: bool) -> None:
        now = self.clock()
        if self.broken or (not force and now - self.written_at < EVERY_SECONDS):
            return
        self.written_at = now
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.hset(self.key, mapping={"stage": self.current, "done": self.done, "total": self.total})
                pipe.expire(self.key, KEEP_SECONDS)
                pipe.execute()
        except RedisError as exc:
            self.broken = True  # no bar for this import; the import itself goes on
            log.warning("import progress not kept: %s", exc)


def read_progress(redis: Redis, key: str) -> tuple[str, int, int] | None:
    """(stage, done, total) of an import, or None if none is known (or Redis cannot say)."""
    try:
        raw = redis.hgetall(key)
    except RedisError:
        return None
    found = {_text(name): _text(value) for name, value in raw.items()}
    stage = found.get("stage", "")
    if stage not in STAGES:
        return None
    try:
        return stage, int(found.get("done", "0")), int(found.get("total", "0"))
    except ValueError:
        return None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
