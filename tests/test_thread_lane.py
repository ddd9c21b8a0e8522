"""`hotline.webhooks.thread_lane.ThreadLane`: the group commits' hop off the event loop."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import threading
import time

import pytest

from hotline.webhooks.thread_lane import ThreadLane

REQUEST = contextvars.ContextVar("REQUEST", default="none")


def lane_threads(name: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith(f"{name}-")]


def wait_until(condition: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.01)
    return False


def test_work_runs_in_the_lanes_thread_with_the_callers_context_and_its_outcome_comes_back() -> None:
    lane = ThreadLane("lane-outcome")

    def where() -> tuple[str, str]:
        return threading.current_thread().name, REQUEST.get()

    def fails() -> None:
        raise ValueError("bad batch")

    async def main() -> tuple[str, str]:
        REQUEST.set("req-7")
        with pytest.raises(ValueError, match="bad batch"):
            await lane.run(fails)
        return await lane.run(where)

    assert asyncio.run(main()) == ("lane-outcome-0", "req-7")
    lane.close()


def test_one_thread_takes_the_work_in_order_and_a_cancelled_wait_lets_it_finish() -> None:
    lane = ThreadLane("lane-order")
    done: list[int] = []
    release = threading.Event()

    def step(n: int) -> int:
        if n == 0:
            release.wait(10)
        done.append(n)
        return n

    async def main() -> list[int]:
        first = lane.run(step, 0)
        first.cancel()  # the caller went away: the work still runs, and nothing fails for it
        rest = [lane.run(step, n) for n in (1, 2, 3)]
        release.set()
        return list(await asyncio.gather(*rest))

    assert asyncio.run(main()) == [1, 2, 3]
    assert done == [0, 1, 2, 3], "one thread, in order"
    lane.close()


def test_threads_start_with_the_first_work_and_end_when_the_lane_is_closed_or_dropped() -> None:
    closed, dropped = ThreadLane("lane-closed", threads=3), ThreadLane("lane-dropped", threads=2)
    assert lane_threads("lane-closed") == [], "no work yet, no thread"

    async def use(lane: ThreadLane) -> None:
        await asyncio.gather(*(lane.run(time.sleep, 0.01) for _ in range(6)))

    asyncio.run(use(closed))
    asyncio.run(use(dropped))
    assert len(lane_threads("lane-closed")) == 3 and len(lane_threads("lane-dropped")) == 2
    closed.close()
    del dropped
    gc.collect()
    assert wait_until(lambda: lane_threads("lane-closed") == [] and lane_threads("lane-dropped") == [])
