"""`ThreadLane`: a batch's blocking work (its transaction, its hand-over to Redis) run off the event loop in a few
threads of its own, with the caller's context (the request id on log lines).

The group commits (`inbound_batcher`, `voice_hotline.group_commit`) hop to a thread twice per batch. Through
anyio's shared pool (`run_in_threadpool`) each hop costs the event loop the checks anyio makes first (which async
library, a capacity limiter, a cancel scope): at 8 callers, with batches of three or four steps, that was about a
tenth of the web process's CPU, more than the batch's own statements. `loop.run_in_executor` costs less, but
still chains a concurrent future to an asyncio one, both ways, on the event loop. Here a hop is one put on a queue
the lane's threads wait on, and one callback back to the loop with the outcome. An awaited hop that is cancelled
leaves its work running to the end in its thread, as anyio's did.

The threads start with the lane's first work, wait on its queue, and end when the lane is closed or collected, so
an app built and dropped in a test leaves none behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
import weakref
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")
Work = Callable[[], None]


class ThreadLane:
    """`threads` threads, named `name`, for one kind of blocking work."""

    def __init__(self, name: str, threads: int = 1) -> None:
        self._queue: queue.SimpleQueue[Work | None] = queue.SimpleQueue()
        self._name, self._threads = name, threads
        self._started = False
        # Closed, or collected without being closed: the threads end all the same.
        self._finalizer = weakref.finalize(self, _stop, self._queue, threads)

    def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> asyncio.Future[T]:
        """`fn(*args, **kwargs)` in one of the lane's threads, in a copy of the caller's context; its future on
        the running loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        context = contextvars.copy_context()

        def work() -> None:
            try:
                result = context.run(fn, *args, **kwargs)
            except BaseException as exc:  # handed to the awaiting coroutine, which raises it
                _call_soon(loop, _fail, future, exc)
            else:
                _call_soon(loop, _succeed, future, result)

        if not self._started:  # the threads start with the first work
            self._started = True
            for n in range(self._threads):
                threading.Thread(target=_serve, args=(self._queue,), name=f"{self._name}-{n}", daemon=True).start()
        self._queue.put(work)
        return future

    def close(self) -> None:
        """No new work; the threads end once what they hold is done."""
        self._finalizer()


def _serve(work_queue: queue.SimpleQueue[Work | None]) -> None:
    while (work := work_queue.get()) is not None:
        work()


def _stop(work_queue: queue.SimpleQueue[Work | None], threads: int) -> None:
    for _ in range(threads):
        work_queue.put(None)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: object) -> None:
    """Back on the loop; if the loop has closed meanwhile (the process is stopping), nobody waits any more."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)


def _succeed(future: asyncio.Future[T], result: T) -> None:
    if not future.done():  # cancelled meanwhile: nobody waits for it
        future.set_result(result)


def _fail(future: asyncio.Future[object], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
