"""The simulator's phone network: who can be played, what each phone received, the calls ringing at it, and the
signed requests a phone's moves make to our webhooks.

Requests go to the app itself through its ASGI stack (httpx2's ASGITransport): they pass the same signature
check as Twilio's, with the same fields. There is no unsigned way in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from dispatch.models import (
    Channel,
    Community,
    DirectoryEntry,
    Grid,
    Household,
    InboundMessage,
    Liaison,
    LocalOutboxEntry,
    Resident,
    ResidentPhone,
    ResidentStatus,
)
from hotline.services import Services
from hotline.simulator.providers import Delivered, Poster, provider
from hotline.simulator.twiml import Call, Step
from workers.gateways.local import LOCAL_ACCOUNT_SID

ACCOUNT_SID = LOCAL_ACCOUNT_SID  # the local account: requests carry one, as Twilio's do
RINGING_MINUTES = 30  # a placed call not answered within this (simulated) time no longer rings
CALL_TTL_SECONDS = 3600
PEOPLE_LIMIT = 500
THREAD_LIMIT = 100
MAX_STEPS = 20  # requests in one move (redirects): a loop in our TwiML stops here, as Twilio stops one


@dataclass(frozen=True)
class Person:
    """A phone the simulator can play: a liaison's, or a resident's."""

    kind: str  # liaison, resident
    name: str
    phone: str
    detail: str  # a liaison's grid; a resident's address
    role: str = ""  # a liaison's role (LiaisonRole), which the page names in words
    voice: bool = False  # a resident on voice (a landline, say): reached by calls
    liaison: str | None = None  # a resident's liaison, for "switch to them"
    liaison_phone: str | None = None
    shared: bool = False  # a number several residents share: the hotline cannot tell who wrote


def name_of(session: Session, phone: str, duty: str) -> str:
    """Who answers `phone`: a liaison's or directory entry's name, a community's duty phone (`duty` after the
    community's name), or the number."""
    for query in (
        select(Liaison.name).where(Liaison.phone == phone),
        select(DirectoryEntry.name).where(DirectoryEntry.phone == phone),
        select(Community.name + " · " + duty).where(Community.duty_phone == phone),
    ):
        found = session.scalar(query.limit(1))
        if found:
            return str(found)
    return phone


def people(session: Session, where: ColumnElement[bool], search: str = "") -> list[Person]:
    """The liaisons and residents of the households in `where`, filtered by name or number, liaisons first."""
    primary = aliased(Liaison)
    query = (
        select(Resident.name, ResidentPhone.phone, Resident.channel, Household, Grid.name, primary.name, primary.phone)
        .join(ResidentPhone, ResidentPhone.resident_id == Resident.id)
        .join(Household, Household.id == Resident.household_id)
        .outerjoin(Grid, Grid.id == Household.grid_id)
        .outerjoin(primary, primary.id == Household.primary_liaison_id)
        .where(where, Resident.status == ResidentStatus.ACTIVE)
        .order_by(Resident.id, ResidentPhone.id)
        .limit(PEOPLE_LIMIT)
    )
    liaisons = (
        select(Liaison.name, Liaison.phone, Liaison.role, Grid.name)
        .outerjoin(Grid, Grid.id == Liaison.grid_id)
        .where(Liaison.active, Liaison.phone.is_not(None), _liaison_in_scope(where))
        .order_by(Liaison.id)
        .limit(PEOPLE_LIMIT)
    )
    if search:
        like = f"%{search}%"
        query = query.where(or_(Resident.name.like(like), ResidentPhone.phone.like(like)))
        liaisons = liaisons.where(or_(Liaison.name.like(like), Liaison.phone.like(like)))
    found = [
        Person("liaison", name, str(phone), grid or "", role=str(role) if role else "")
        for name, phone, role, grid in session.execute(liaisons)
    ]
    residents: dict[str, Person] = {}
    for name, phone, channel, household, grid, liaison, liaison_phone in session.execute(query):
        if phone in residents:
            residents[phone] = replace(residents[phone], shared=True)
            continue
        address = "-".join(p for p in (household.building, household.unit, household.room) if p)
        where_they_live = " · ".join(p for p in (grid, address) if p)
        residents[phone] = Person(
            "resident",
            name,
            phone,
            where_they_live,
            voice=channel == Channel.VOICE,
            liaison=liaison,
            liaison_phone=liaison_phone,
        )
    return found + list(residents.values())


def _liaison_in_scope(where: ColumnElement[bool]) -> ColumnElement[bool]:
    """A liaison who serves households in `where` and none outside it: their SMS are about those alone."""
    serves = or_(Household.primary_liaison_id == Liaison.id, Household.backup_liaison_id == Liaison.id)
    return and_(
        exists(select(Household.id).where(serves, where)),
        ~exists(select(Household.id).where(serves, ~where)),
    )


def may_play(session: Session, where: ColumnElement[bool], phone: str) -> bool:
    """True if `phone` belongs to someone in `where` (a resident's, or a liaison of one of its households)."""
    resident = session.scalar(
        select(ResidentPhone.id)
        .join(Resident, Resident.id == ResidentPhone.resident_id)
        .join(Household, Household.id == Resident.household_id)
        .where(ResidentPhone.phone == phone, where)
        .limit(1)
    )
    if resident is not None:
        return True
    liaison = session.scalar(select(Liaison.id).where(Liaison.phone == phone, _liaison_in_scope(where)).limit(1))
    return liaison is not None


def thread(session: Session, phone: str) -> list[dict[str, Any]]:
    """The SMS this phone sent to the hotline and received from it, oldest first (the last THREAD_LIMIT)."""
    sent = session.execute(
        select(InboundMessage.id, InboundMessage.body, InboundMessage.received_at)
        .where(InboundMessage.from_phone == phone, InboundMessage.channel == "sms")
        .order_by(InboundMessage.id.desc())
        .limit(THREAD_LIMIT)
    ).all()
    received = session.execute(
        select(LocalOutboxEntry.id, LocalOutboxEntry.body, LocalOutboxEntry.created_at, LocalOutboxEntry.status)
        .where(LocalOutboxEntry.to_phone == phone, LocalOutboxEntry.kind == "sms")
        .order_by(LocalOutboxEntry.id.desc())
        .limit(THREAD_LIMIT)
    ).all()
    items = sorted(
        [(at, f"in-{i}", "me", body, None) for i, body, at in sent]
        + [(at, f"out-{i}", "hotline", body, status) for i, body, at, status in received]
    )
    return [
        {"id": key, "from": who, "body": body, "at": at.isoformat(), **({"status": status} if status else {})}
        for at, key, who, body, status in items[-THREAD_LIMIT:]
    ]


def ringing(session: Session, phone: str, now: datetime) -> list[LocalOutboxEntry]:
    """Calls the hotline placed to `phone` that nobody has answered or let ring out yet."""
    return list(
        session.scalars(
            select(LocalOutboxEntry)
            .where(
                LocalOutboxEntry.to_phone == phone,
                LocalOutboxEntry.kind == "call",
                LocalOutboxEntry.status == "sent",
                LocalOutboxEntry.created_at >= now - timedelta(minutes=RINGING_MINUTES),
            )
            .order_by(LocalOutboxEntry.id)
        )
    )


def settle_placed_call(session: Session, sid: str, phone: str, outcome: str) -> LocalOutboxEntry | None:
    """Mark a ringing call answered or unanswered, once: None if it was not ringing at `phone` (already settled
    by another tab or a double click)."""
    done = session.execute(
        update(LocalOutboxEntry)
        .where(
            LocalOutboxEntry.sid == sid,
            LocalOutboxEntry.to_phone == phone,
            LocalOutboxEntry.kind == "call",
            LocalOutboxEntry.status == "sent",
        )
        .values(status=outcome)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.scalar(select(LocalOutboxEntry).where(LocalOutboxEntry.sid == sid))


def settle_report(session: Session, outbox_id: int, phone: str, outcome: str | None) -> Delivered | None:
    """Mark an SMS the hotline sent to `phone` reported (`outcome`: delivered or failed), once: None if it is not
    one waiting for its report (already reported from another tab, or a double click). `outcome` None puts a
    reported one back to waiting (its report was not taken)."""
    done = session.execute(
        update(LocalOutboxEntry)
        .where(
            LocalOutboxEntry.id == outbox_id,
            LocalOutboxEntry.to_phone == phone,
            LocalOutboxEntry.kind == "sms",
            LocalOutboxEntry.status == ("sent" if outcome else LocalOutboxEntry.status),
        )
        .values(status=outcome or "sent")
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return None
    entry = session.get(LocalOutboxEntry, outbox_id)
    return None if entry is None else Delivered(entry.sid, entry.to_phone, entry.status_callback)


# ── requests to the webhooks, signed as the provider signs them ────────────────────────────────────────────


class Webhooks(Poster):
    """Posts to the app's own webhooks in-process as the provider the local gateway stands in for: a phone's SMS,
    a delivery report, and (Twilio) a call's requests."""

    def __init__(self, app: Any, services: Services) -> None:
        super().__init__(app, services)
        self._provider = provider(self)

    async def send_sms(self, phone: str, body: str) -> int:
        """The phone texts the hotline."""
        return await self._provider.send_sms(phone, body)

    async def report(self, sms: Delivered, delivered: bool) -> int:
        """The provider reports whether an SMS the hotline sent reached the phone."""
        return await self._provider.report(sms, delivered)

    async def drive(self, call: Call, step: Step | None) -> None:
        """Make `step` and follow the call until it waits for the phone or ends; report an end as Twilio does."""
        for _ in range(MAX_STEPS):
            if step is None:
                break
            status, text = await self.post(step.url, call.params(step.fields))
            if not step.twiml:
                return
            if status != 200:
                raise RuntimeError(f"the webhook answered {status}")
            step = call.feed(text)
        else:
            raise RuntimeError(f"more than {MAX_STEPS} requests in a row without waiting for the caller")
        if call.ended and not call.reported:
            # The call ended on our side (a <Hangup>, the end of the document): Twilio's status report, once.
            call.reported = True
            await self.post(call.status_url, call.params({"CallStatus": "completed", "CallDuration": "30"}))


class CallStore:
    """Calls in progress, kept in Redis for an hour, each under the staff account that plays it."""

    def __init__(self, services: Services) -> None:
        self._redis = services.redis

    @staticmethod
    def _key(user_id: int, sid: str) -> str:
        return f"hotline-sim:call:{user_id}:{sid}"

    def save(self, user_id: int, call: Call) -> None:
        self._redis.set(self._key(user_id, call.sid), json.dumps(call.to_json()), ex=CALL_TTL_SECONDS)

    def lock(self, sid: str) -> bool:
        """One move at a time per call; False if another is going on (held at most 30 s)."""
        return bool(self._redis.set(f"hotline-sim:lock:{sid}", 1, nx=True, ex=30))

    def unlock(self, sid: str) -> None:
        self._redis.delete(f"hotline-sim:lock:{sid}")

    def load(self, user_id: int, sid: str) -> Call | None:
        raw = self._redis.get(self._key(user_id, sid))
        return None if raw is None else Call.from_json(json.loads(raw))
