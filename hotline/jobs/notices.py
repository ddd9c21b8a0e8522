"""The RQ job that starts scheduled notices when their time comes (`hotline scheduler`, with the check-in tick).

Each notice starts in its own transaction, claimed there by a conditional UPDATE (`dispatch.notices.start_notice`),
so a second scheduler, or this job run twice, starts none twice. Its copies go to the campaign queue after the
commit, as a notice sent at once."""

from __future__ import annotations

import logging

from dispatch import notices
from hotline.handover import Decided, hand_over
from hotline.services import current, sms_templates

log = logging.getLogger(__name__)


def start_due_notices() -> dict[str, int]:
    """Start every scheduled notice that is due (one waiting for quiet hours to end is left for a later turn).
    Returns how many started and how many copies they decided."""
    services = current()
    now = services.clock()
    settings = services.settings
    rates = (settings.sms_per_second, settings.calls_per_second)
    templates = sms_templates(settings)
    with services.readonly() as session:
        due = notices.due_notice_ids(session, now)
    started = copies = 0
    for notice_id in due:
        with services.sessions.begin() as session:
            outbound = notices.start_notice(
                session, notice_id, now=now, rules=services.intake.checkin, rates=rates, templates=templates
            )
        hand_over(services.redis, Decided(campaign=outbound))
        if outbound:
            started += 1
            copies += len(outbound)
            log.info("notice %s started at its time: %s copies", notice_id, len(outbound))
    return {"started": started, "copies": copies}
