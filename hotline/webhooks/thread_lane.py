"""`ThreadLane`: a batch's blocking work (its transaction, its hand-over to Redis) run off the event loop in a few
threads of its own, with the caller's context (the request id on log lines).

The group commits (`inbound_batcher`, `voice_hotline.group_commit`) hop to a thread twice per batch. Through
anyio's shared pool (`run_in_threadpool`) each hop costs the event loop the checks anyio makes first (which async
library, a capacity limiter, a cancel scope): at 8 callers, with batches of three or four steps, that was about a
tenth of the web process's CPU, more than the batch's own statements. A plain executor's hop is a fraction of it.
An awaited hop that is cancelled leaves its work running to the end in its thread, as anyio's did.

The threads start when first needed and end when the lane is closed or collected (`ThreadPoolExecutor`'s own rule),
so an app built and dropped in a test leaves none behind.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class ThreadLane:
    """At most `threads` threads, named `name`, for one kind of blocking work."""

    def __init__(self, name: str, threads: int = 1) -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)

    def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> asyncio.Future[T]:
        """`fn(*args, **kwargs)` in one of the lane's threads, in a copy of the caller's context; its future on
        the running loop."""
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return asyncio.get_running_loop().run_in_executor(self._executor, call)

    def close(self) -> None:
        """No new work; the threads end once what they hold is done."""
        self._executor.shutdown(wait=False)
