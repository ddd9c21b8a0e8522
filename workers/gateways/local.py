"""The local gateway: records every SMS and call in the database (the outbox) and never touches the network.

Its voicemails are short WAV files in a folder, made when a simulated caller leaves one, and served by the same
URL check as Twilio's.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from dispatch.models import LocalOutboxEntry
from workers.exceptions import RecordingMissingError
from workers.gateways.recordings import CHUNK, RecordingMedia, recording_path, recording_sid_of, tone_wav

LOCAL_ACCOUNT_SID = "AC" + "0" * 32  # the local account: the simulator's requests and recordings carry it


class LocalGateway:
    """A stand-in phone network for laptops and tests. `hotline outbox` shows what it recorded."""

    name = "local"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        from_ref: str = "local",
        *,
        recordings: Path | None = None,
        api_base_url: str = "https://api.twilio.com",
    ) -> None:
        self._sessions = sessions
        self._from_ref = from_ref
        self._recordings = recordings
        self._api_base_url = api_base_url

    def _record(self, kind: str, prefix: str, to: str, body: str, status_callback: str | None) -> str:
        return self.record(kind, prefix + uuid.uuid4().hex, to, body, status_callback)

    def record(self, kind: str, sid: str, to: str, body: str, status_callback: str | None) -> str:
        """Keep one SMS or call in the outbox under `sid` (a stand-in for another provider chooses the id's shape)."""
        with self._sessions.begin() as session:
            session.add(
                LocalOutboxEntry(
                    kind=kind, sid=sid, to_phone=to, from_ref=self._from_ref, body=body, status_callback=status_callback
                )
            )
        return sid

    def send_sms(
        self, to: str, body: str, *, status_callback: str | None = None, outbound_id: int | None = None
    ) -> str:
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
            {
                "kind": "sms",
                "sid": sid,
                "to_phone": to,
                "from_ref": self._from_ref,
                "body": body,
                "status_callback": callback,
                "status": "sent",
            }
            for sid, (to, body, callback) in zip(sids, messages, strict=True)
        ]
        with self._sessions.begin() as session:
            session.execute(insert(LocalOutboxEntry), rows)
        return sids

    def make_recording(self, seconds: int) -> tuple[str, str]:
        """Keep a short tone as a simulated caller's voicemail.

        Returns:
            Its RecordingSid and RecordingUrl, shaped as Twilio's.
        """
        folder = self._folder()
        sid = "RE" + uuid.uuid4().hex
        partial = folder / f".{sid}.wav.part"
        partial.write_bytes(tone_wav(seconds))
        os.replace(partial, folder / f"{sid}.wav")  # whole or absent: a listener never reads half a file
        return sid, recording_path(self._api_base_url, LOCAL_ACCOUNT_SID, sid)

    def open_recording(self, recording_url: str) -> RecordingMedia:
        """Open a voicemail kept by `make_recording`, checked as strictly as Twilio's URLs are."""
        sid = recording_sid_of(recording_url, api_base_url=self._api_base_url, account_sid=LOCAL_ACCOUNT_SID)
        path = self._folder() / f"{sid}.wav"
        try:
            audio = path.open("rb")
        except FileNotFoundError:
            raise RecordingMissingError(f"no local recording {sid[-6:]}", status=404) from None
        size = os.fstat(audio.fileno()).st_size
        return RecordingMedia("audio/wav", size, iter(lambda: audio.read(CHUNK), b""), audio.close)

    def _folder(self) -> Path:
        if self._recordings is None:
            raise RecordingMissingError("this local gateway keeps no recordings", status=404)
        self._recordings.mkdir(parents=True, exist_ok=True)
        return self._recordings
