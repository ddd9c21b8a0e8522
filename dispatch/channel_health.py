"""How the channels are doing, read from the rows: when the last message came in, when a provider last reported
on a delivery, how many sends failed today, and how many wait to be sent, for all of them together and for each
gateway. Staff read it on the channels page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.models import InboundMessage, OutboundMessage, OutboundStatus

REPORTED = (OutboundStatus.DELIVERED, OutboundStatus.UNDELIVERED, OutboundStatus.FAILED)
FAILED = (OutboundStatus.UNDELIVERED, OutboundStatus.FAILED)
WAITING = (OutboundStatus.PENDING, OutboundStatus.SENDING)


@dataclass(frozen=True)
class ChannelHealth:
    """The figures of the channels page."""

    last_inbound: datetime | None
    last_report: datetime | None  # a delivery report, or a refusal, on one of our messages
    failed_today: int
    waiting: int
    oldest_waiting: datetime | None


def channel_health(session: Session, day_start: datetime, gateway: str | None = None) -> ChannelHealth:
    """The figures now, with "today" from `day_start` (the local midnight, in UTC): of every gateway together, or
    of one gateway only. A message waiting that no gateway has been given yet counts for all together only."""
    inbound = [] if gateway is None else [InboundMessage.gateway == gateway]
    outbound = [] if gateway is None else [OutboundMessage.gateway == gateway]
    last_inbound = session.scalar(select(func.max(InboundMessage.received_at)).where(*inbound))
    last_report = session.scalar(
        select(func.max(OutboundMessage.status_at)).where(OutboundMessage.status.in_(REPORTED), *outbound)
    )
    failed_today = session.scalar(
        select(func.count(OutboundMessage.id)).where(
            OutboundMessage.status.in_(FAILED), OutboundMessage.created_at >= day_start, *outbound
        )
    )
    waiting, oldest = session.execute(
        select(func.count(OutboundMessage.id), func.min(OutboundMessage.created_at)).where(
            OutboundMessage.status.in_(WAITING), *outbound
        )
    ).one()
    return ChannelHealth(last_inbound, last_report, int(failed_today or 0), int(waiting or 0), oldest)
