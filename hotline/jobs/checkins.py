"""RQ jobs of the daily check-in: the tick (make the day, send what is due, climb the ladder) and the batch send.

A campaign is not one job per SMS: the tick decides up to a thousand check-ins per transaction, and one job
hands a batch to the gateway (the local gateway records a batch in one transaction). A batch runs for a short
slice and queues the rest of itself, so task and feedback SMS on the queues ahead of it never wait long.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select

from dispatch import outbox
from dispatch.checkins.answers import cancel_unwanted
from dispatch.checkins.missed_checkin_ladder import advance
from dispatch.checkins.returns import returns_due
from dispatch.checkins.schedule import BATCH, make_checkins, plan_fingerprint, send_due
from dispatch.models import OutboundMessage
from hotline.handover import Decided, hand_over
from hotline.jobs.sends import deliver_sms
from hotline.services import Services, current
from hotline.webhooks.paths import status_callback_path
from workers.exceptions import GatewayError
from workers.queues import BATCH as JOB_BATCH
from workers.queues import enqueue_batch

log = logging.getLogger(__name__)

CHECKIN_TICK_SECONDS = 30  # how often the scheduler runs the tick: a check-in goes out within this of its time
SLICE_SECONDS = 2.0  # a batch job yields to the queues ahead of it after this long
# Making the day is done by one tick at a time, once per change of the plans or the day, whichever process runs
# it: the fingerprint it was made for is kept in Redis for every worker. (Ticks of several schedulers, or one that
# outlasts the interval, otherwise each made the whole day at once: at 100,000 residents four workers spent a
# minute inserting the same rows, each waiting on the others' unique keys, and none was left to send.)
MADE_KEY = "hotline:checkins:made"  # the fingerprint the day was last made for
MAKING_KEY = "hotline:checkins:making"  # held while one tick makes the day
MAKING_SECONDS = 600  # the hold lapses by itself if its worker dies


def checkin_tick() -> dict[str, int]:
    """Make today's check-ins if the plans or the day changed, send those due, and climb the ladder."""
    services = current()
    now = services.clock()
    counts = dict.fromkeys(("made", "sent", "called", "visit_now", "no_phone", "missed_quiet", "skipped", "ladder"), 0)
    with services.sessions.begin() as session:  # back from an absence: before the day is made, so it is theirs
        back = returns_due(session, now, services.intake)
    counts["back"] = back.ended
    hand_over(services.redis, Decided(campaign=back.calls, sends=back.sends))
    counts["made"] = _make_day(services, now)
    while True:
        with services.sessions.begin() as session:
            sent = send_due(session, now, services.intake)
        for key, value in sent.counts.items():
            counts[key] += value
        hand_over(services.redis, Decided(campaign=sent.outbound_ids))
        if sum(sent.counts.values()) < BATCH:
            break
    more = True
    while more:  # a pass per transaction, until no rung has more due: a large day never waits for the next tick
        with services.sessions.begin() as session:
            climbed = advance(session, now, services.intake)
            ids, more = climbed.outbound, climbed.more
            from_checkins = OutboundMessage.id.in_(ids) & OutboundMessage.checkin_id.is_not(None)
            bulk = set(session.scalars(select(OutboundMessage.id).where(from_checkins)))
        counts["ladder"] += len(ids)
        urgent = [i for i in ids if i not in bulk]  # visit-task offers and alerts: each on its own
        hand_over(services.redis, Decided(campaign=[i for i in ids if i in bulk], sends=urgent))
    if any(counts.values()):
        log.info("checkin tick %s", " ".join(f"{k}={v}" for k, v in counts.items() if v))
    return counts


def _make_day(services: Services, now: datetime) -> int:
    """Make the day's check-ins if the plans or the day changed since they were last made, unless another tick is
    making them right now (this one goes on to send what is due). Returns how many were made."""
    with services.readonly() as session:
        fingerprint = plan_fingerprint(session, now, services.intake)
    marker = hashlib.sha256(f"{services.settings.database_url}|{fingerprint!r}".encode()).hexdigest()
    if services.redis.get(MADE_KEY) == marker.encode():
        return 0
    holder = uuid.uuid4().hex
    if not services.redis.set(MAKING_KEY, holder, nx=True, ex=MAKING_SECONDS):
        return 0
    try:
        with services.sessions.begin() as session:
            made = make_checkins(session, now, services.intake)
        services.redis.set(MADE_KEY, marker)
    finally:
        if services.redis.get(MAKING_KEY) == holder.encode():  # still ours (not lapsed and taken by another)
            services.redis.delete(MAKING_KEY)
    return made


def forget_made_day(services: Services) -> None:
    """Forget that the day was made (as when Redis is wiped): the next tick makes it again, a no-op for the rows
    that exist."""
    services.redis.delete(MADE_KEY)


def send_batch(outbound_ids: list[int], round_: int = 0) -> str:
    """Hand a batch of check-in SMS and calls to the gateway, within the provider's rate. Runs for a slice,
    then queues what is left (after the wait the rate limit asks for). Rows already sent are skipped."""
    services = current()
    ends = time.monotonic() + SLICE_SECONDS
    with services.readonly() as session:
        listed = select(OutboundMessage.id, OutboundMessage.kind).where(OutboundMessage.id.in_(outbound_ids))
        kinds = {row.id: row.kind for row in session.execute(listed)}
    remaining = [i for i in outbound_ids if i in kinds]
    while remaining and time.monotonic() < ends:
        # Together only where every SMS goes through the one gateway: with communities on gateways of their own,
        # each goes by its community's choice, one by one.
        batchable = (
            not services.other_gateways
            and hasattr(services.gateway, "send_sms_many")
            and not services.throttle.limited("sms")
        )
        if kinds[remaining[0]] == "sms" and batchable:
            chunk = [i for i in remaining[:JOB_BATCH] if kinds[i] == "sms"]
            _send_sms_chunk(services, chunk)
            done = set(chunk)
            remaining = [i for i in remaining if i not in done]
        elif deliver_sms(services, remaining[0], bulk=True):
            remaining.pop(0)
        else:  # the rate limit, or an urgent send waiting: come back shortly
            break
    if remaining and not enqueue_batch(services.redis, remaining, delay=timedelta(seconds=1), round_=round_ + 1):
        log.error("batch of %s could not be queued again; the sweeper will find its rows", len(remaining))
    return f"{len(outbound_ids) - len(remaining)} handed over, {len(remaining)} queued again"


def _send_sms_chunk(services: Services, ids: list[int]) -> None:
    """Claim a chunk of SMS in one statement, hand them over together where the gateway can, record the SIDs
    in one statement. A gateway error falls back to sending one by one, which records each error."""
    with services.sessions.begin() as session:
        claimed = outbox.claim_many(session, ids)
        cancelled = cancel_unwanted(
            session, [c.outbound_id for c in claimed], services.clock(), services.intake.checkin
        )
    claimed = [c for c in claimed if c.outbound_id not in cancelled]
    if not claimed:
        return
    send_many = services.gateway.send_sms_many  # type: ignore[attr-defined]  # checked by the caller
    callbacks = [services.settings.callback_url(status_callback_path(item.outbound_id)) for item in claimed]
    try:
        sids = send_many([(item.to_phone, item.body, cb) for item, cb in zip(claimed, callbacks, strict=True)])
    except GatewayError as exc:
        log.warning("batch of %s not handed over (%s); sending one by one", len(claimed), exc)
        for item in claimed:
            _release(services, item.outbound_id)
            deliver_sms(services, item.outbound_id, bulk=True)
        return
    with services.sessions.begin() as session:
        sent = [(item.outbound_id, sid) for item, sid in zip(claimed, sids, strict=True)]
        outbox.mark_sent_many(session, sent, services.settings.gateway)


def _release(services: Services, outbound_id: int) -> None:
    with services.sessions.begin() as session:
        outbox.release_for_retry(session, outbound_id, "sent one by one")
