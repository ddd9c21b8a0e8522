"""The fault run's short version, in CI on PostgreSQL: 600 signed SMS over 15 s, from three communities on three
channels (Twilio, Tencent Cloud SMS, an Android phone), while workers are SIGKILLed (one of them after taking jobs
and before starting them), Redis is killed (once coming back from its AOF, once wiped), the web server is killed and
restarted, and each provider refuses (throttled, 5xx) and answers too late. Every message answered must end as
exactly its task and its SMS, through its own channel's gateway: 0 lost, 0 duplicated, on each channel."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.run import SHORT, run
from tests.conftest import TEST_DATABASE_URL


@pytest.mark.skipif(
    not TEST_DATABASE_URL,
    reason="the fault run runs once, on PostgreSQL, where workers truly work side by side; on SQLite "
    "`python -m tests.chaos` runs it, and the suite kills workers and Redis in test_durability and test_e2e_run",
)
def test_nothing_acknowledged_is_lost_or_done_twice_while_everything_fails(tmp_path: Path) -> None:
    report = run(SHORT, tmp_path, TEST_DATABASE_URL, echo=lambda line: None)
    print("\n".join([*report.details(), report.line()]))
    assert report.settled, "work was still waiting long after the last message"
    assert report.findings.lost == []
    assert report.findings.duplicated == []
    assert report.findings.misrouted == []
    assert report.lost == 0
    # The faults really happened and really bit, on every channel: otherwise this run proves nothing.
    assert len(report.faults) >= 8
    for name, channel in report.findings.channels.items():
        assert channel.acknowledged == channel.sent > 0, name
        assert channel.offers > 0 and channel.receipts > 0, name
        assert report.providers[name]["refused"] > 0 and report.providers[name]["late"] > 0, name
    assert report.popped > 0  # a worker took jobs and died before starting them
    assert report.tally.answers.get(0, 0) > 0  # the web server's restart left some deliveries unanswered
    assert len(report.tally.acknowledged) == SHORT.messages  # and the providers' retries got every one through
    assert report.findings.offers > 0 and report.findings.receipts > 0
