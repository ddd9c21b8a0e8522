"""RQ job functions. Each takes plain ids, gets its parts from `hotline.services.current()`, and is idempotent:
run twice, the second run changes nothing and sends nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from dispatch import outbox
from dispatch.checkins.answers import cancel_unwanted
from dispatch.inbound import prune_receipts, unprocessed_ids
from dispatch.intake import handle_inbound_message
from dispatch.models import clock_span, utcnow
from dispatch.phones import mask_phone
from dispatch.tasks import escalation as ladder
from hotline.services import Services, current
from workers.exceptions import (
    GatewayAmbiguousError,
    GatewayRejectedError,
    GatewayTemporaryError,
)
from workers.queues import (
    InFlight,
    batched_rows,
    enqueue_batches,
    enqueue_inbound,
    enqueue_send,
    release_abandoned_jobs,
)
from workers.throttle import throttle_kind

log = logging.getLogger(__name__)

SWEEP_GRACE_SECONDS = 10  # leave fresh work to the jobs already queued for it
SEND_LEASE = timedelta(minutes=5)  # a claim older than this belongs to a worker that died
RETRY_DELAY = timedelta(seconds=5)  # after a rate limit or outage, don't knock again at once
RESEND_DELAY = timedelta(minutes=1)  # a message Twilio reported undelivered because of throttling goes again after


def process_inbound_sms(message_id: int) -> str:
    """Turn one stored inbound SMS into its task and SMS, then hand the SMS to the gateway."""
    services = current()
    with services.sessions.begin() as session:
        result = handle_inbound_message(session, message_id, services.intake, services.clock())
    if result.outcome is None:
        log.info("inbound message=%s already handled", message_id)
        return "already handled"
    log.info(
        "inbound message=%s outcome=%s tasks=%s sms=%s",
        message_id,
        result.outcome.value,
        result.task_ids,
        len(result.outbound_ids),
    )
    for outbound_id in result.outbound_ids:
        if not deliver_sms(services, outbound_id):
            enqueue_send(services.redis, outbound_id, delay=RETRY_DELAY)
    return result.outcome.value


def send_sms(outbound_id: int) -> str:
    """Hand one stored SMS to the gateway. Raises on a temporary failure, so RQ retries it."""
    services = current()
    if not deliver_sms(services, outbound_id):
        raise GatewayTemporaryError(f"outbound {outbound_id} not accepted yet; will retry")
    return "done"


def deliver_sms(services: Services, outbound_id: int, *, bulk: bool = False) -> bool:
    """Claim one pending SMS or call and hand it to the gateway, within the provider's rate.

    Args:
        bulk: A check-in: it steps aside while an urgent send waits for the rate limit.

    Returns:
        False if it should be tried again later; True if it is settled (sent, refused, or not ours to send).
    """
    with services.sessions.begin() as session:
        sms = outbox.claim_for_sending(session, outbound_id)
        if sms is not None and (
            cancel_unwanted(session, [outbound_id], services.clock(), services.intake.checkin)
            or ladder.cancel_stale_resend(session, outbound_id, utcnow())
        ):
            return True  # a check-in answered meanwhile, quiet hours began, or a resent offer's task moved on
    if sms is None:
        return True  # already sent, or another worker has it
    if services.throttle.wait(throttle_kind(sms.kind), bulk=bulk) > 0:
        with services.sessions.begin() as session:
            outbox.release_for_retry(session, outbound_id, "provider rate limit")
        return False
    settings = services.settings
    try:
        if sms.kind == "call":  # the call fetches what to say from us, signed like every webhook
            sid = services.gateway.place_call(
                sms.to_phone, twiml_url=settings.callback_url(f"/twilio/voice/message?o={outbound_id}")
            )
        elif sms.kind == "checkin":  # the check-in call: the voice menu, and a report of how it ended
            sid = services.gateway.place_call(
                sms.to_phone,
                twiml_url=settings.callback_url(f"/twilio/voice/checkin?o={outbound_id}"),
                status_callback=settings.callback_url(f"/twilio/voice/checkin/status?o={outbound_id}"),
                machine_detection=True,
            )
        else:
            sid = services.gateway.send_sms(
                sms.to_phone,
                sms.body,
                status_callback=settings.callback_url(status_callback_path(outbound_id)),
            )
    except GatewayTemporaryError as exc:
        with services.sessions.begin() as session:
            outbox.release_for_retry(session, outbound_id, str(exc))
        log.warning("outbound=%s to=%s not accepted: %s", outbound_id, mask_phone(sms.to_phone), exc)
        return False
    except GatewayRejectedError as exc:
        with services.sessions.begin() as session:
            outbox.mark_failed(session, outbound_id, str(exc), exc.code)  # and what its code says about the number
            # A task offer that cannot be sent climbs the ladder now, a check-in SMS moves on to its call now.
            then = ladder.after_delivery_failure(session, outbound_id, services.clock(), services.intake)
        meaning = outbox.provider_error(exc.code).meaning
        log.error("outbound=%s to=%s refused: %s %s", outbound_id, mask_phone(sms.to_phone), exc, meaning)
        for next_id in then.now:
            enqueue_send(services.redis, next_id)
        for next_id in then.later:
            enqueue_send(services.redis, next_id, delay=RESEND_DELAY)
        return True
    except GatewayAmbiguousError as exc:
        with services.sessions.begin() as session:
            outbox.mark_unknown(session, outbound_id, str(exc))
        log.error("outbound=%s to=%s may or may not have gone: %s", outbound_id, mask_phone(sms.to_phone), exc)
        return True
    with services.sessions.begin() as session:
        outbox.mark_sent(session, outbound_id, sid)
    log.info("outbound=%s to=%s sent via %s", outbound_id, mask_phone(sms.to_phone), services.gateway.name)
    return True


def status_callback_path(outbound_id: int) -> str:
    """Where Twilio reports on one SMS: the path carries our id, so a report can never miss its row."""
    return f"/twilio/status?o={outbound_id}"


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
        flagged = ladder.flag_overdue_accepted(session, services.clock(), services.intake)
    escalated: list[int] = []
    more = True
    while more:  # a pass per transaction, until fewer than a pass's limit were due
        with services.sessions.begin() as session:
            climbed = ladder.escalate_due_tasks(session, services.clock(), services.intake)
        escalated += climbed.outbound
        more = climbed.more
        # The workers send them, all at once; one sweep alone would send them one after another.
        for outbound_id in climbed.outbound:
            enqueue_send(services.redis, outbound_id)
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
