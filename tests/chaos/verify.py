"""What a fault run must end with, channel by channel, read from the database and from what each channel's stand-in
accepted."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from dispatch.models import InboundMessage, OutboundMessage, OutboundStatus, Task, TaskEvent, utcnow
from tests.chaos.communities import channel_index, resident_of
from tests.chaos.load import BODIES, CHANNELS, Sms

SENT_STATES = {OutboundStatus.SENT, OutboundStatus.DELIVERED}
IN_DOUBT_STATES = {OutboundStatus.UNKNOWN, OutboundStatus.SENDING}  # never resent: maybe gone, maybe not


@dataclass
class ChannelFindings:
    """One channel's problems, by kind, with examples. `lost`, `duplicated` and `misrouted` must all be empty."""

    sent: int = 0
    acknowledged: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    misrouted: list[str] = field(default_factory=list)  # a message of this channel through another gateway
    offers: int = 0
    receipts: int = 0
    # Sends claimed by a worker that was killed, or answered after the gateway gave up: never resent.
    in_doubt: Counter[str] = field(default_factory=Counter)
    in_doubt_unsent: Counter[str] = field(default_factory=Counter)  # of those, what the provider never received


@dataclass
class Findings:
    channels: dict[str, ChannelFindings] = field(default_factory=lambda: {name: ChannelFindings() for name in CHANNELS})

    def _all(self, kind: str) -> list[str]:
        return [f"{name}: {item}" for name, found in self.channels.items() for item in getattr(found, kind)]

    @property
    def lost(self) -> list[str]:
        return self._all("lost")

    @property
    def duplicated(self) -> list[str]:
        return self._all("duplicated")

    @property
    def misrouted(self) -> list[str]:
        return self._all("misrouted")

    @property
    def offers(self) -> int:
        return sum(found.offers for found in self.channels.values())

    @property
    def receipts(self) -> int:
        return sum(found.receipts for found in self.channels.values())


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


def verify(engine: Engine, sms: list[Sms], acknowledged: set[str], accepted: Mapping[str, Counter[int]]) -> Findings:
    """Check the run's end state against the messages answered 2xx, per channel (`accepted`: by channel, what its
    stand-in took, by our outbound id).

    - each acknowledged message is stored exactly once, as its channel's gateway's, and handled; nothing else is;
    - each handled message joined exactly one task (made it, or was added to it);
    - each household has one task per need it asked for, no more;
    - each task has one offer to its liaison, sent through the household's channel, which that channel's provider
      received once (or which is honestly in doubt); each receipt likewise;
    - no SMS of ours reached a provider twice, or a provider not of its recipient's channel.
    """
    found = Findings()
    by_channel = found.channels
    for message in sms:
        by_channel[message.channel].sent += 1
    by_sid = {m.stored_sid: m for m in sms}
    with Session(engine) as session:
        stored = session.execute(select(InboundMessage.provider_sid, InboundMessage.id, InboundMessage.gateway)).all()
        unhandled = set(session.scalars(select(InboundMessage.id).where(InboundMessage.processed_at.is_(None))))
        links: Counter[int] = Counter()
        for source in session.scalars(select(Task.source_message_id)):
            links[source or 0] += 1
        for detail in session.scalars(select(TaskEvent.detail).where(TaskEvent.kind == "added")):
            links[int(detail.removeprefix("message:"))] += 1
        tasks = session.execute(select(Task.id, Task.household_id, Task.category)).all()
        outbound = session.execute(
            select(
                OutboundMessage.id,
                OutboundMessage.dedupe_key,
                OutboundMessage.status,
                OutboundMessage.gateway,
                OutboundMessage.to_phone,
            )
        ).all()
    rows = {row.dedupe_key: row for row in outbound}
    stored_ids: dict[str, int] = {}
    for sid, row_id, gateway in stored:
        sender = by_sid.get(sid)
        if sender is None:  # e.g. a callback delivered twice and stored under a second SID
            by_channel[gateway if gateway in by_channel else CHANNELS[0]].duplicated.append(
                f"stored inbound {row_id} ({sid}) matches no message sent"
            )
            continue
        stored_ids[sid] = row_id
        if gateway != sender.channel:
            by_channel[sender.channel].misrouted.append(f"{sender.key}: stored as {gateway}'s")
    if len(stored_ids) != len(set(stored_ids.values())):
        by_channel[CHANNELS[0]].duplicated.append("two SIDs share one stored row")
    expected: set[tuple[int, str]] = set()
    for message in (m for m in sms if m.key in acknowledged):
        channel = by_channel[message.channel]
        channel.acknowledged += 1
        message_id = stored_ids.get(message.stored_sid)
        if message_id is None:
            channel.lost.append(f"{message.key}: answered but not stored")
            continue
        if message_id in unhandled:
            channel.lost.append(f"{message.key}: stored but never handled")
            continue
        if links[message_id] != 1:
            (channel.lost if links[message_id] == 0 else channel.duplicated).append(
                f"{message.key}: joined {links[message_id]} tasks"
            )
        expected.add((message.resident + 1, BODIES[message.body]))
    per_need: defaultdict[tuple[int, str], list[int]] = defaultdict(list)
    for task_id, household_id, category in tasks:
        per_need[(household_id or 0, str(category))].append(task_id)
    for (household, need), task_ids in per_need.items():
        channel = _of_resident(by_channel, household - 1)
        if len(task_ids) > 1:
            channel.duplicated.append(f"household {household} has {len(task_ids)} open {need} tasks")
        if (household, need) not in expected:
            channel.duplicated.append(f"household {household} has a {need} task no acknowledged message asked for")
    for household, need in sorted(expected - set(per_need)):
        _of_resident(by_channel, household - 1).lost.append(f"household {household} asked for {need} and has no task")
    owner: dict[int, str] = {}  # outbound id → the channel it should have gone through
    for task_id, household_id, _ in tasks:
        name = CHANNELS[channel_index((household_id or 1) - 1)]
        by_channel[name].offers += 1
        row = rows.get(f"task:{task_id}:offer:0")
        _check_sent(by_channel[name], name, f"task {task_id} offer", row, accepted[name], "offers")
        if row is not None:
            owner[row.id] = name
    for key, row in rows.items():
        if key.endswith(":receipt"):
            resident = resident_of(row.to_phone)
            name = CHANNELS[channel_index(resident)] if resident is not None else CHANNELS[0]
            by_channel[name].receipts += 1
            _check_sent(by_channel[name], name, key, row, accepted[name], "receipts")
            owner[row.id] = name
    for name, took in accepted.items():
        for outbound_id, times in took.items():
            if times > 1:
                by_channel[name].duplicated.append(f"outbound {outbound_id}: reached {name} {times} times")
            if owner.get(outbound_id, name) != name:
                by_channel[owner[outbound_id]].misrouted.append(f"outbound {outbound_id}: reached {name}")
    return found


def _of_resident(by_channel: dict[str, ChannelFindings], resident: int) -> ChannelFindings:
    return by_channel[CHANNELS[channel_index(resident)]]


def _check_sent(found: ChannelFindings, channel: str, what: str, row: Any, accepted: Counter[int], kind: str) -> None:
    if row is None:
        found.lost.append(f"{what}: never decided")
        return
    row_id, status = row.id, OutboundStatus(row.status)
    if row.gateway != channel and status in SENT_STATES | IN_DOUBT_STATES:
        found.misrouted.append(f"{what}: sent through {row.gateway}")
    if status in SENT_STATES:
        if accepted[row_id] == 0:
            found.lost.append(f"{what}: marked {status} but {channel} never received it")
    elif status in IN_DOUBT_STATES:
        found.in_doubt[kind] += 1
        found.in_doubt_unsent[kind] += accepted[row_id] == 0
    else:
        found.lost.append(f"{what}: ended {status}")
