"""What a fault run must end with, read from the database and from what the Twilio stand-in accepted."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from dispatch.models import InboundMessage, OutboundMessage, OutboundStatus, Task, TaskEvent, utcnow
from tests.chaos.load import BODIES, Sms

SENT_STATES = {OutboundStatus.SENT, OutboundStatus.DELIVERED}
IN_DOUBT_STATES = {OutboundStatus.UNKNOWN, OutboundStatus.SENDING}  # never resent: maybe gone, maybe not


@dataclass
class Findings:
    """Every problem found, by kind, with examples. `lost` and `duplicated` must both be empty."""

    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    offers: int = 0
    receipts: int = 0
    # Sends claimed by a worker that was killed, or answered after the gateway gave up: never resent.
    in_doubt: Counter[str] = field(default_factory=Counter)
    in_doubt_unsent: Counter[str] = field(default_factory=Counter)  # of those, what Twilio never received


def settle(engine: Engine, acknowledged: set[str], timeout: float) -> bool:
    """Wait until every acknowledged message is handled and no SMS waits to be sent. True if that happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Session(engine) as session:
            handled = session.scalar(
                select(func.count()).where(InboundMessage.processed_at.is_not(None))  # type: ignore[arg-type]
            )
            waiting = session.scalar(
                select(func.count()).where(
                    (OutboundMessage.status == OutboundStatus.PENDING)
                    | (  # a live send answers within the gateway's timeout; older claims belong to dead workers
                        (OutboundMessage.status == OutboundStatus.SENDING)
                        & (OutboundMessage.claimed_at > utcnow() - timedelta(seconds=15))
                    )
                )
            )
        if (handled or 0) >= len(acknowledged) and not waiting:
            return True
        time.sleep(1)
    return False


def verify(engine: Engine, sms: list[Sms], acknowledged: set[str], accepted: Counter[int]) -> Findings:
    """Check the run's end state against the messages answered 200.

    - each acknowledged SID is stored exactly once, and handled;
    - each handled message joined exactly one task (made it, or was added to it);
    - each household has one task per need it asked for, no more;
    - each task has one offer to its liaison, which Twilio received once (or which is honestly in doubt);
    - no SMS of ours reached Twilio twice.
    """
    found = Findings()
    by_sid = {m.sid: m for m in sms}
    with Session(engine) as session:
        stored = dict(session.execute(select(InboundMessage.provider_sid, InboundMessage.id)).all())
        unhandled = set(session.scalars(select(InboundMessage.id).where(InboundMessage.processed_at.is_(None))))
        links: Counter[int] = Counter()
        for source in session.scalars(select(Task.source_message_id)):
            links[source or 0] += 1
        for detail in session.scalars(select(TaskEvent.detail).where(TaskEvent.kind == "added")):
            links[int(detail.removeprefix("message:"))] += 1
        tasks = session.execute(select(Task.id, Task.household_id, Task.category)).all()
        outbound = session.execute(select(OutboundMessage.id, OutboundMessage.dedupe_key, OutboundMessage.status))
        rows = {key: (row_id, OutboundStatus(status)) for row_id, key, status in outbound.all()}
    if len(stored) != len(set(stored.values())):
        found.duplicated.append("two SIDs share one stored row")
    expected: set[tuple[int, str]] = set()
    for sid in sorted(acknowledged):
        message_id = stored.get(sid)
        if message_id is None:
            found.lost.append(f"{sid}: answered 200 but not stored")
            continue
        if message_id in unhandled:
            found.lost.append(f"{sid}: stored but never handled")
            continue
        if links[message_id] != 1:
            (found.lost if links[message_id] == 0 else found.duplicated).append(
                f"{sid}: joined {links[message_id]} tasks"
            )
        expected.add((by_sid[sid].resident + 1, BODIES[by_sid[sid].body]))
    per_need: defaultdict[tuple[int, str], list[int]] = defaultdict(list)
    for task_id, household_id, category in tasks:
        per_need[(household_id or 0, str(category))].append(task_id)
    for need, task_ids in per_need.items():
        if len(task_ids) > 1:
            found.duplicated.append(f"household {need[0]} has {len(task_ids)} open {need[1]} tasks")
        if need not in expected:
            found.duplicated.append(f"household {need[0]} has a {need[1]} task no acknowledged message asked for")
    found.lost += [f"household {h} asked for {c} and has no task" for h, c in sorted(expected - set(per_need))]
    for task_id, _, _ in tasks:
        found.offers += 1
        _check_sent(found, f"task {task_id} offer", rows.get(f"task:{task_id}:offer:0"), accepted, "offers")
    for key, row in rows.items():
        if key.endswith(":receipt"):
            found.receipts += 1
            _check_sent(found, key, row, accepted, "receipts")
    found.duplicated += [f"outbound {i}: reached Twilio {n} times" for i, n in accepted.items() if n > 1]
    return found


def _check_sent(
    found: Findings, what: str, row: tuple[int, OutboundStatus] | None, accepted: Counter[int], kind: str
) -> None:
    if row is None:
        found.lost.append(f"{what}: never decided")
        return
    row_id, status = row
    if status in SENT_STATES:
        if accepted[row_id] == 0:
            found.lost.append(f"{what}: marked {status} but Twilio never received it")
    elif status in IN_DOUBT_STATES:
        found.in_doubt[kind] += 1
        found.in_doubt_unsent[kind] += accepted[row_id] == 0
    else:
        found.lost.append(f"{what}: ended {status}")
