"""A liaison's own voice at the start of their households' check-in calls.

A liaison records the greeting on the hotline (`record_greeting` in the liaison menu): each recording is stored
`pending` while they hear it back, and only one they keep becomes `current`; the one before it is kept as history
(`replaced`). A recording posted twice is stored once (by call and URL); a keep or a discard repeated changes
nothing. Staff may remove the current one; the check-in calls then greet in text-to-speech again.

The audio stays at the provider, as a voicemail's does: this module hands the stored URL to the edge, whose gateway
checks and opens it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dispatch import audit
from dispatch.audit import Actor
from dispatch.exceptions import NotFound
from dispatch.models import Household, Liaison, LiaisonGreeting

PLAYABLE = ("pending", "current")  # what the provider may fetch: the one being heard back, the one in use
MAX_SECONDS = 20  # the longest greeting recorded


@dataclass(frozen=True)
class GreetingRow:
    """One recording of a liaison's greeting, as staff see it."""

    id: int
    status: str
    seconds: int | None
    recorded_at: datetime
    kept_at: datetime | None
    ended_at: datetime | None


def store_recording(
    session: Session, liaison_id: int, call_sid: str, url: str, seconds: int | None, now: datetime
) -> int:
    """The recording a liaison just made, stored `pending` once however often the provider posts it.

    Returns:
        Its id.
    """
    url = url[:1000]
    found = session.scalar(
        select(LiaisonGreeting.id).where(LiaisonGreeting.call_sid == call_sid, LiaisonGreeting.recording_url == url)
    )
    if found is not None:
        return found
    greeting = LiaisonGreeting(
        liaison_id=liaison_id,
        call_sid=call_sid,
        recording_url=url,
        seconds=None if seconds is None else max(0, min(seconds, 600)),
        status="pending",
        recorded_at=now,
    )
    session.add(greeting)
    session.flush()
    return greeting.id


def _own(session: Session, liaison_id: int, greeting_id: int) -> LiaisonGreeting:
    """The liaison's recording `greeting_id`, its liaison's row locked so two keeps take turns."""
    session.scalar(select(Liaison.id).where(Liaison.id == liaison_id).with_for_update())
    greeting = session.scalar(
        select(LiaisonGreeting).where(LiaisonGreeting.id == greeting_id, LiaisonGreeting.liaison_id == liaison_id)
    )
    if greeting is None:
        raise NotFound("greeting", str(greeting_id))
    return greeting


def keep_greeting(session: Session, liaison_id: int, greeting_id: int, now: datetime) -> bool:
    """Keep a pending recording: it becomes the liaison's current greeting, and the one before it history.

    Returns:
        Whether it is the current greeting now (False: it was discarded, replaced or removed meanwhile).

    Raises:
        NotFound: Not a recording of this liaison.
    """
    greeting = _own(session, liaison_id, greeting_id)
    if greeting.status != "pending":
        return greeting.status == "current"  # a repeated keep changes nothing
    session.execute(
        update(LiaisonGreeting)
        .where(LiaisonGreeting.liaison_id == liaison_id, LiaisonGreeting.status == "current")
        .values(status="replaced", ended_at=now)
        .execution_options(synchronize_session="fetch")
    )
    session.flush()
    greeting.status, greeting.kept_at = "current", now
    session.flush()
    return True


def discard_greeting(session: Session, liaison_id: int, greeting_id: int, now: datetime) -> None:
    """Drop a pending recording (recorded again, or the old one kept). Anything else is left as it is.

    Raises:
        NotFound: Not a recording of this liaison.
    """
    greeting = _own(session, liaison_id, greeting_id)
    if greeting.status == "pending":
        greeting.status, greeting.ended_at = "discarded", now


def playable_url(session: Session, greeting_id: int) -> str:
    """The stored URL of a greeting the provider may fetch (pending or current), for the gateway to open.

    Raises:
        NotFound: No such greeting, or one discarded, replaced or removed.
    """
    url = session.scalar(
        select(LiaisonGreeting.recording_url).where(
            LiaisonGreeting.id == greeting_id, LiaisonGreeting.status.in_(PLAYABLE)
        )
    )
    if not url:
        raise NotFound("greeting", str(greeting_id))
    return url


def mark_gone(session: Session, greeting_id: int, now: datetime) -> bool:
    """The provider no longer has the recording (or it is not our account's): a pending or current greeting is
    marked `gone`, so the next check-in calls greet in text-to-speech. Repeated, it changes nothing.

    Returns:
        Whether it was marked now.
    """
    greeting = session.get(LiaisonGreeting, greeting_id)
    if greeting is None or greeting.status not in PLAYABLE:
        return False
    greeting.status, greeting.ended_at = "gone", now
    return True


def household_greeting(session: Session, household_id: int) -> int | None:
    """The current greeting of the household's liaison (the primary), if they recorded one and are active."""
    return session.scalar(
        select(LiaisonGreeting.id)
        .join(Household, Household.primary_liaison_id == LiaisonGreeting.liaison_id)
        .join(Liaison, Liaison.id == LiaisonGreeting.liaison_id)
        .where(Household.id == household_id, LiaisonGreeting.status == "current", Liaison.active.is_(True))
    )


def greeting_history(session: Session, liaison_id: int) -> list[GreetingRow]:
    """The liaison's recordings, newest first (the caller must have checked the scope)."""
    rows = session.scalars(
        select(LiaisonGreeting)
        .where(LiaisonGreeting.liaison_id == liaison_id)
        .order_by(LiaisonGreeting.recorded_at.desc(), LiaisonGreeting.id.desc())
    )
    return [GreetingRow(g.id, g.status, g.seconds, g.recorded_at, g.kept_at, g.ended_at) for g in rows]


def current_url(session: Session, liaison_id: int) -> tuple[int, str]:
    """The liaison's current greeting: its id and stored URL (the caller must have checked the scope).

    Raises:
        NotFound: They have none.
    """
    found = session.execute(
        select(LiaisonGreeting.id, LiaisonGreeting.recording_url).where(
            LiaisonGreeting.liaison_id == liaison_id, LiaisonGreeting.status == "current"
        )
    ).first()
    if found is None:
        raise NotFound("greeting", str(liaison_id))
    return found[0], found[1]


def remove_greeting(session: Session, actor: Actor, liaison_id: int, now: datetime) -> bool:
    """Staff take the liaison's current greeting away (kept as history); their households hear text-to-speech
    again. A second click finds none and changes nothing (the caller must have checked the scope).

    Returns:
        Whether one was removed.
    """
    session.scalar(select(Liaison.id).where(Liaison.id == liaison_id).with_for_update())
    greeting = session.scalar(
        select(LiaisonGreeting).where(LiaisonGreeting.liaison_id == liaison_id, LiaisonGreeting.status == "current")
    )
    if greeting is None:
        return False
    greeting.status, greeting.ended_at = "removed", now
    audit.record(session, actor, "remove", "liaison", liaison_id, detail=f"greeting:{greeting.id}", at=now)
    return True
