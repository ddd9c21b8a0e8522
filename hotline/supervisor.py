"""`hotline run`: the web server, a worker and the scheduler as child processes of one command.

A child that dies is started again after a pause, and so is the embedded redis-server. Only the web server can
stop the run: if it cannot stay up at all (say, the port is taken) the run ends with its error rather than
looping. Workers and the scheduler are restarted for as long as it takes (Redis may be down a while), and the
web server keeps taking messages meanwhile: they are stored, and the sweeper queues them when all is back.
Ctrl-C or SIGTERM stops every child, then Redis.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

from hotline.embedded_redis import EmbeddedRedis
from hotline.exceptions import EmbeddedRedisError
from hotline.processes import as_owned_child

log = logging.getLogger(__name__)

QUICK_DEATH = 5.0  # seconds: a child that dies sooner than this did not really start
MAX_QUICK_DEATHS = 3
MAX_BACKOFF = 30.0


@dataclass
class Child:
    """One supervised process."""

    name: str
    args: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_deaths: int = 0
    restart_at: float | None = None
    backoff: float = field(default=1.0)
    critical: bool = False  # if it cannot start at all, stop the whole run

    def start(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(  # noqa: S603  # our own argv
            self.args, env=env, stdin=subprocess.DEVNULL, preexec_fn=as_owned_child
        )
        self.started_at = time.monotonic()
        self.restart_at = None
        log.info("started %s (pid %s)", self.name, self.process.pid)


class Supervisor:
    """Runs children until told to stop."""

    def __init__(self, children: list[Child], env: dict[str, str], redis: EmbeddedRedis | None = None) -> None:
        self.children = children
        self.env = env
        self.redis = redis
        self._stopping = False

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def run(self) -> int:
        """Start every child and watch them. Returns the exit code for the command."""
        previous = {s: signal.signal(s, self._request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        exit_code = 0
        try:
            for child in self.children:
                child.start(self.env)
            while not self._stopping:
                failed = self._watch_once()
                if failed is not None:
                    log.error("%s could not start; stopping everything", failed.name)
                    exit_code = 1
                    break
                time.sleep(0.2)
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return exit_code

    def _watch_once(self) -> Child | None:
        if self.redis is not None and self.redis.owned and not self.redis.process_alive():
            log.error("embedded redis-server died; starting it again (its AOF keeps the queued work)")
            try:
                self.redis.restart()
            except EmbeddedRedisError as exc:
                log.error("embedded redis-server could not restart: %s", exc)
        now = time.monotonic()
        for child in self.children:
            if child.process is None:
                if child.restart_at is not None and now >= child.restart_at:
                    child.start(self.env)
                continue
            code = child.process.poll()
            if code is None:
                if now - child.started_at > QUICK_DEATH:
                    child.quick_deaths, child.backoff = 0, 1.0
                continue
            lived = now - child.started_at
            child.process = None
            child.quick_deaths = child.quick_deaths + 1 if lived < QUICK_DEATH else 0
            if child.critical and child.quick_deaths >= MAX_QUICK_DEATHS:
                return child
            log.warning("%s exited with %s after %.0fs; restarting in %.0fs", child.name, code, lived, child.backoff)
            child.restart_at = now + child.backoff
            child.backoff = min(child.backoff * 2, MAX_BACKOFF)
        return None

    def _stop_all(self, timeout: float = 15.0) -> None:
        running = [c for c in self.children if c.process is not None and c.process.poll() is None]
        for child in running:
            assert child.process is not None
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", child.name)
                child.process.kill()
                child.process.wait()
        for child in self.children:
            child.process = None


def hotline_command(*args: str) -> list[str]:
    """argv to run a `hotline` subcommand with this same Python."""
    return [sys.executable, "-m", "hotline", *args]


def child_env(redis_url: str) -> dict[str, str]:
    """The environment of children: ours, pointed at the Redis this run owns."""
    env = dict(os.environ)
    env["REDIS_URL"] = redis_url
    return env
