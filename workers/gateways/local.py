"""The local gateway: records every SMS and call in the database (the outbox) and never touches the network."""

from __future__ import annotations

import uuid

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from dispatch.models import LocalOutboxEntry


class LocalGateway:
    """A stand-in phone network for laptops and tests. `hotline outbox` shows what it recorded."""

    name = "local"

    def __init__(self, sessions: sessionmaker[Session], from_ref: str = "local") -> None:
        self._sessions = sessions
        self._from_ref = from_ref

    def _record(self, kind: str, prefix: str, to: str, body: str, status_callback: str | None) -> str:
        sid = prefix + uuid.uuid4().hex
        with self._sessions.begin() as session:
            session.add(
                LocalOutboxEntry(
                    kind=kind, sid=sid, to_phone=to, from_ref=self._from_ref, body=body, status_callback=status_callback
                )
            )
        return sid

    def send_sms(self, to: str, body: str, *, status_callback: str | None = None) -> str:
        """Record the SMS; return a MessageSid-shaped id."""
        return self._record("sms", "SM", to, body, status_callback)

    def place_call(
        self, to: str, *, twiml_url: str, status_callback: str | None = None, machine_detection: bool = False
    ) -> str:
        """Record the call; return a CallSid-shaped id."""
        return self._record("call", "CA", to, twiml_url, status_callback)

    def send_sms_many(self, messages: list[tuple[str, str, str | None]]) -> list[str]:
        """Record many SMS (to, body, status callback) in one transaction: a campaign's batch."""
        sids = ["SM" + uuid.uuid4().hex for _ in messages]
        rows = [
            {"kind": "sms", "sid": sid, "to_phone": to, "from_ref": self._from_ref, "body": body,
             "status_callback": callback, "status": "sent"}
            for sid, (to, body, callback) in zip(sids, messages, strict=True)
        ]  # fmt: skip
        with self._sessions.begin() as session:
            session.execute(insert(LocalOutboxEntry), rows)
        return sids
