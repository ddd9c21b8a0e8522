"""The RQ job that turns one stored inbound SMS into its task and answers. Idempotent: run twice, the second
run changes nothing and sends nothing."""

from __future__ import annotations

import logging
from datetime import timedelta

from dispatch.intake import handle_inbound_message
from hotline.handover import Decided, hand_over
from hotline.jobs.sends import deliver_sms
from hotline.services import current

log = logging.getLogger(__name__)

RETRY_DELAY = timedelta(seconds=5)  # after a rate limit or outage, don't knock again at once


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
            hand_over(services.redis, Decided(sends=[outbound_id], delay=RETRY_DELAY))
    return result.outcome.value
