"""RQ jobs that hand stored SMS and calls to the gateway. Each takes plain ids, gets its parts from
`hotline.services.current()`, and is idempotent: run twice, the second run changes nothing and sends nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from rq import get_current_job

from dispatch import community_channels, outbox, provider_answers
from dispatch.channels import Ability
from dispatch.checkins.answers import cancel_unwanted
from dispatch.checkins.template_calls import greeted_name
from dispatch.community_channels import CommunityChoice
from dispatch.models import utcnow
from dispatch.outbox import SmsToSend
from dispatch.phones import mask_phone
from dispatch.tasks import escalation
from hotline.handover import Decided, hand_over
from hotline.services import Services, current
from hotline.webhooks import paths
from workers.exceptions import (
    GatewayAmbiguousError,
    GatewayError,
    GatewayRejectedError,
    GatewayTemporaryError,
)
from workers.gateways import TemplateCalls
from workers.queues import take_waiting_sends
from workers.throttle import throttle_kind

log = logging.getLogger(__name__)

RETRY_DELAY = timedelta(seconds=5)  # after a rate limit or outage, don't knock again at once


def send_sms(outbound_id: int) -> str:
    """Hand one stored SMS to the gateway; in a worker, with the SMS of the send jobs waiting behind this one,
    together (`send_together`). Raises on a temporary failure of its own SMS alone, so RQ retries it."""
    services = current()
    others = take_waiting_sends(services.redis) if get_current_job() is not None else []
    if others:
        return send_together(services, [outbound_id, *others])
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
            or escalation.cancel_stale_resend(session, outbound_id, utcnow())
        ):
            return True  # a check-in answered meanwhile, quiet hours began, or a resent offer's task moved on
        if sms is not None:
            kind, gateway_name = _route(services, sms.kind, community_channels.choice_for(session, outbound_id))
            outbox.note_gateway(session, outbound_id, gateway_name)
    if sms is None:
        return True  # already sent, or another worker has it
    if services.throttle.wait(throttle_kind(sms.kind), bulk=bulk) > 0:
        with services.sessions.begin() as session:
            outbox.release_for_retry(session, outbound_id, "provider rate limit")
        return False
    settings = services.settings
    gateway = (
        services.call_gateway_named(gateway_name)
        if kind in ("call", "checkin")
        else services.gateway_named(gateway_name)
    )
    try:
        if kind == "none":
            raise GatewayRejectedError("the community's channels place no calls")
        if kind == "call":  # the call fetches what to say from us, signed like every webhook
            sid = gateway.place_call(
                sms.to_phone, twiml_url=settings.callback_url(paths.message_call_path(outbound_id))
            )
        elif kind == "checkin" and isinstance(gateway, TemplateCalls):  # an approved template, greeting by name
            sid = gateway.place_checkin_call(
                sms.to_phone, name=_greeted(services, outbound_id), outbound_id=outbound_id
            )
        elif kind == "checkin":  # the check-in call: the voice menu, and a report of how it ended
            sid = gateway.place_call(
                sms.to_phone,
                twiml_url=settings.callback_url(paths.checkin_call_path(outbound_id)),
                status_callback=settings.callback_url(paths.checkin_status_path(outbound_id)),
                machine_detection=True,
            )
        else:
            sid = gateway.send_sms(
                sms.to_phone,
                sms.body,
                status_callback=settings.callback_url(paths.status_callback_path(outbound_id)),
                outbound_id=outbound_id,
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
            then = escalation.after_delivery_failure(session, outbound_id, services.clock(), services.intake)
        meaning = provider_answers.provider_error(exc.code).meaning
        log.error("outbound=%s to=%s refused: %s %s", outbound_id, mask_phone(sms.to_phone), exc, meaning)
        hand_over(services.redis, Decided(sends=then.now, resends=then.later))
        return True
    except GatewayAmbiguousError as exc:
        with services.sessions.begin() as session:
            outbox.mark_unknown(session, outbound_id, str(exc))
        log.error("outbound=%s to=%s may or may not have gone: %s", outbound_id, mask_phone(sms.to_phone), exc)
        return True
    with services.sessions.begin() as session:
        outbox.mark_sent(session, outbound_id, sid)
    log.info("outbound=%s to=%s sent via %s", outbound_id, mask_phone(sms.to_phone), gateway.name)
    return True


def send_together(services: Services, outbound_ids: list[int]) -> str:
    """Hand many stored SMS and calls over, each exactly once: the SMS each gateway can take together (and whose
    sends have no rate limit) claimed in one statement and handed over in one call per gateway, recorded in one
    statement; the rest one by one (`deliver_sms`: calls, gateways that take one SMS at a time, rate limits).
    Each goes through its community's gateway (`_route`). One the gateway cannot take yet goes again shortly.

    Args:
        outbound_ids: The running job's own row first, then those of the jobs taken from behind it.
    """
    together: dict[str, list[SmsToSend]] = {}
    alone: list[int] = []
    claimed: list[SmsToSend] = []
    with services.sessions.begin() as session:
        # Routed first, claimed after: only the rows handed over together here; `deliver_sms` claims the others.
        kinds = outbox.pending_kinds(session, outbound_ids)
        choices = community_channels.choices_for(session, list(kinds))
        routes = {i: _route(services, kind, choices[i]) for i, kind in kinds.items()}
        batchable = {i for i, (kind, name) in routes.items() if kind == "sms" and _takes_many(services, name)}
        alone = [i for i in outbound_ids if i in kinds and i not in batchable]
        if batchable:
            claimed = outbox.claim_many(session, sorted(batchable))
            ids = [item.outbound_id for item in claimed]
            cancelled = cancel_unwanted(session, ids, services.clock(), services.intake.checkin)
            cancelled |= escalation.cancel_stale_resends(session, ids, utcnow())
            for item in claimed:
                if item.outbound_id not in cancelled:
                    together.setdefault(routes[item.outbound_id][1], []).append(item)
    for gateway_name, items in together.items():
        alone += _hand_over_together(services, gateway_name, items)
    later = [outbound_id for outbound_id in alone if not deliver_sms(services, outbound_id)]
    log.info(
        "send batch rows=%d together=%d one-by-one=%d later=%d", len(outbound_ids), len(claimed), len(alone), len(later)
    )
    own, others = outbound_ids[0], [outbound_id for outbound_id in later if outbound_id != outbound_ids[0]]
    if others:
        hand_over(services.redis, Decided(sends=others, delay=RETRY_DELAY))
    if own in later:  # this job's own row: RQ retries the job, as for a send alone
        raise GatewayTemporaryError(f"outbound {own} not accepted yet; will retry")
    return f"{len(claimed)} together, {len(alone)} one by one, {len(later)} to try again"


def _takes_many(services: Services, gateway_name: str) -> bool:
    """True if SMS to this gateway may go together: it takes many in one call, and SMS have no rate limit."""
    return hasattr(services.gateway_named(gateway_name), "send_sms_many") and not services.throttle.limited("sms")


def _hand_over_together(services: Services, gateway_name: str, items: list[SmsToSend]) -> list[int]:
    """Claimed SMS handed to one gateway in one call, their SIDs recorded in one statement. If the gateway
    did not take them (down, or refused them), they are released, for `deliver_sms` to send one by one (which
    records each error): returned. If it may or may not have taken them, none is sent again: each is unknown, as
    `deliver_sms` leaves an SMS alone."""
    gateway = services.gateway_named(gateway_name)
    callbacks = [services.settings.callback_url(paths.status_callback_path(item.outbound_id)) for item in items]
    try:
        sids = gateway.send_sms_many(  # type: ignore[attr-defined]  # checked by the caller
            [(item.to_phone, item.body, cb) for item, cb in zip(items, callbacks, strict=True)]
        )
    except GatewayAmbiguousError as exc:
        with services.sessions.begin() as session:
            for item in items:
                outbox.mark_unknown(session, item.outbound_id, str(exc))
        log.error("batch of %s may or may not have gone: %s", len(items), exc)
        return []
    except GatewayError as exc:
        log.warning("batch of %s not handed over (%s); sending one by one", len(items), exc)
        with services.sessions.begin() as session:
            for item in items:
                outbox.release_for_retry(session, item.outbound_id, "sent one by one")
        return [item.outbound_id for item in items]
    with services.sessions.begin() as session:
        sent = [(item.outbound_id, sid) for item, sid in zip(items, sids, strict=True)]
        outbox.mark_sent_many(session, sent, gateway_name)
    return []


def _route(services: Services, kind: str, choice: CommunityChoice) -> tuple[str, str]:
    """How a message goes, and through which gateway, by its recipient's community's choice of channels.

    A spoken call where the community's channels place none goes as an SMS instead (a landline's fails); a
    check-in call where they place none is "none": refused, so the ladder's next rung comes now.
    """
    calls = services.intake.calls_for(choice.calls)
    if kind == "call" and not calls.can(Ability.SPOKEN_CALLS):
        kind = "sms"
    if kind == "checkin" and not calls.can(Ability.CHECKIN_CALLS):
        return "none", calls.name
    return kind, calls.name if kind in ("call", "checkin") else services.intake.sms_for(choice.sms)


def _greeted(services: Services, outbound_id: int) -> str:
    """Whom a check-in call greets: the resident of its check-in."""
    with services.readonly() as session:
        return greeted_name(session, outbound_id)
