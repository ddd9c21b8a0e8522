"""RQ jobs that hand stored SMS and calls to the gateway. Each takes plain ids, gets its parts from
`hotline.services.current()`, and is idempotent: run twice, the second run changes nothing and sends nothing.
"""

from __future__ import annotations

import logging

from dispatch import community_channels, outbox, provider_answers
from dispatch.channels import Ability
from dispatch.checkins.answers import cancel_unwanted
from dispatch.checkins.template_calls import greeted_name
from dispatch.community_channels import CommunityChoice
from dispatch.models import utcnow
from dispatch.phones import mask_phone
from dispatch.tasks import escalation
from hotline.handover import Decided, hand_over
from hotline.services import Services, current
from hotline.webhooks import paths
from workers.exceptions import (
    GatewayAmbiguousError,
    GatewayRejectedError,
    GatewayTemporaryError,
)
from workers.gateways import TemplateCalls
from workers.throttle import throttle_kind

log = logging.getLogger(__name__)


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
