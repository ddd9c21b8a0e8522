"""The sweeper: the RQ job that finds work the database has and Redis lost, and queues it again. Idempotent."""

from __future__ import annotations

import logging
from datetime import timedelta

from dispatch import outbox
from dispatch.inbound import prune_receipts, unprocessed_ids
from dispatch.models import clock_span, utcnow
from dispatch.tasks import escalation
from hotline.handover import Decided, hand_over
from hotline.services import current
from workers.queues import (
    InFlight,
    batched_rows,
    enqueue_batches,
    enqueue_inbound,
    enqueue_send,
    release_abandoned_jobs,
)

log = logging.getLogger(__name__)

SWEEP_GRACE_SECONDS = 10  # leave fresh work to the jobs already queued for it
SEND_LEASE = timedelta(minutes=5)  # a claim older than this belongs to a worker that died


def sweep(grace_seconds: int = SWEEP_GRACE_SECONDS) -> dict[str, int]:
    """Find work the database has and Redis lost (Redis down, a job dropped) and queue it again.

    Args:
        grace_seconds: Work younger than this is left alone: its own job is probably on the way.

    Returns:
        How many inbound and outbound items were queued again, and how many stale sends were marked unknown.
    """
    services = current()
    release_abandoned_jobs(services.redis)
    cutoff = utcnow() - clock_span(timedelta(seconds=grace_seconds))
    with services.readonly() as session:
        inbound_ids = unprocessed_ids(session, older_than=cutoff)
        outbound_ids = outbox.pending_ids(session, older_than=cutoff)
        # Check-in SMS and calls go back in batches on their own queue, never ahead of task and feedback SMS.
        campaign = outbox.checkin_ids(session, outbound_ids)
    with services.sessions.begin() as session:
        prune_receipts(session, utcnow())
        abandoned = outbox.abandon_stale_claims(session, lease=SEND_LEASE)
        flagged = escalation.flag_overdue_accepted(session, services.clock(), services.intake)
    escalated: list[int] = []
    more = True
    while more:  # a pass per transaction, until fewer than a pass's limit were due
        with services.sessions.begin() as session:
            climbed = escalation.escalate_due_tasks(session, services.clock(), services.intake)
        escalated += climbed.outbound
        more = climbed.more
        # The workers send them, all at once; one sweep alone would send them one after another.
        hand_over(services.redis, Decided(sends=climbed.outbound))
    # The rows decide what is owed; Redis is asked only whether a job for each is really on its way.
    in_flight = InFlight.read(services.redis)
    requeued_in = sum(enqueue_inbound(services.redis, i, in_flight) for i in inbound_ids)
    requeued_out = sum(enqueue_send(services.redis, i, in_flight=in_flight) for i in outbound_ids if i not in campaign)
    unbatched = campaign - batched_rows(services.redis, in_flight)
    requeued_out += enqueue_batches(services.redis, sorted(unbatched), in_flight)
    counts = {
        "inbound": requeued_in,
        "outbound": requeued_out,
        "abandoned": len(abandoned),
        "escalation_sms": len(escalated),
        "flagged": len(flagged),
    }
    if requeued_in or requeued_out or abandoned:
        log.warning("sweep requeued inbound=%s outbound=%s marked-unknown=%s", requeued_in, requeued_out, abandoned)
    return counts
