"""The RQ job that turns stored inbound SMS into their tasks and answers. Idempotent: run twice, the second run
changes nothing and sends nothing.

A job is for the messages one commit stored (`inbound-<id>`, or `inbound-<id>_<id>_…` for a web process's group
commit; the sweeper's are for one message each). A job that a worker runs while others wait behind it (the 09:00
wave) takes them off the queue and handles all their messages as one batch, in one transaction
(`dispatch.intake_batch`); a job of one message, alone, handles it as before."""

from __future__ import annotations

import logging

from rq import get_current_job

from dispatch.exceptions import NotFound
from dispatch.intake_batch import handle_inbound_batch, handle_inbound_message
from hotline.handover import Decided, hand_over
from hotline.jobs.sends import RETRY_DELAY, deliver_sms
from hotline.services import current
from workers.queues import take_waiting_inbound

log = logging.getLogger(__name__)


class InboundBatchError(RuntimeError):
    """Some messages of a batch could not be handled, even one by one: the job fails, and RQ retries it."""


def process_inbound_sms(message_id: int, *more: int) -> str:
    """Turn stored inbound SMS (this job's) into their tasks and SMS, then hand the SMS to the gateway; in a worker,
    with the messages of the inbound jobs waiting behind this one, as one batch."""
    others = take_waiting_inbound(current().redis) if get_current_job() is not None else []
    if more or others:
        return process_inbound_batch([message_id, *more, *others])
    return _process_one(message_id)


def _process_one(message_id: int) -> str:
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


def process_inbound_batch(message_ids: list[int]) -> str:
    """Turn many stored inbound SMS into their tasks and SMS in one transaction, then queue the SMS for the
    gateway in one go (a job each, queued in one round trip). If the batch fails, each message is handled alone,
    so one bad message holds up no other; if any still fails, the job fails after the others are done, and RQ
    (then the sweeper) tries it again."""
    services = current()
    try:
        with services.sessions.begin() as session:
            result = handle_inbound_batch(session, message_ids, services.intake, services.clock())
    except Exception:
        log.exception("inbound batch of %d failed; handling its messages one by one", len(message_ids))
        return _one_by_one(message_ids)
    hand_over(services.redis, Decided(new_sends=result.outbound_ids))
    handled = sum(outcome is not None for outcome in result.outcomes.values())
    log.info("inbound batch messages=%d handled=%d sms=%d", len(message_ids), handled, len(result.outbound_ids))
    return f"{handled} handled"


def _one_by_one(message_ids: list[int]) -> str:
    failed = []
    for message_id in message_ids:
        try:
            _process_one(message_id)
        except NotFound:
            log.warning("inbound message=%s not stored; skipped", message_id)
        except Exception:
            log.exception("inbound message=%s failed on its own", message_id)
            failed.append(message_id)
    if failed:
        raise InboundBatchError(f"inbound messages {failed} not handled; the job will be retried")
    return f"{len(message_ids)} handled one by one"
