"""One function hands decided work to Redis after commit, and a Redis that is down never fails its caller."""

from __future__ import annotations

import ast
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from rq.registry import ScheduledJobRegistry

from hotline.handover import Decided, hand_over
from hotline.services import Services
from workers.queues import CHECKINS, INBOUND, OUTBOUND

ROOT = Path(__file__).parent.parent
# Queue mechanics, not a handover: the sweeper queues again what Redis lost, a batch queues the rest of itself.
MECHANICS = {"hotline/handover.py", "hotline/jobs/sweeper.py", "hotline/jobs/checkins.py"}


def test_only_the_handover_puts_decided_work_on_the_queues() -> None:
    callers = []
    for path in (ROOT / "hotline").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "workers.queues":
                queued = [a.name for a in node.names if a.name.startswith("enqueue")]
                callers += [f"{path.relative_to(ROOT)}: {name}" for name in queued]
    assert callers and {c.split(":")[0] for c in callers} <= MECHANICS, callers


def test_decided_work_lands_on_its_queues(services: Services) -> None:
    decided = Decided(inbound=[1], sends=[2], delay=None, resends=[3], campaign=[4, 5])
    assert hand_over(services.redis, decided)
    assert Queue(INBOUND, connection=services.redis).job_ids == ["inbound-1"]
    assert Queue(OUTBOUND, connection=services.redis).job_ids == ["send-2"]
    assert ScheduledJobRegistry(OUTBOUND, connection=services.redis).get_job_ids() == ["send-3"]  # in a minute
    assert Queue(CHECKINS, connection=services.redis).job_ids == ["batch-4-5-2-0"]
    assert hand_over(services.redis, Decided(sends=[6], delay=timedelta(seconds=5)))
    assert ScheduledJobRegistry(OUTBOUND, connection=services.redis).get_job_ids() == ["send-6", "send-3"]


def test_a_handover_while_redis_is_down_is_logged_by_row_and_left_to_the_sweeper(
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)  # nothing listens on port 1
    with caplog.at_level(logging.ERROR, logger="hotline.handover"):
        assert not hand_over(down, Decided(inbound=[7], sends=[8, 9], campaign=[10]))
    assert caplog.messages == [
        "inbound=[7] outbound=[8, 9, 10] stored but not queued (ConnectionError); the sweeper will queue them"
    ]
