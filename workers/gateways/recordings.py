"""Voicemail recordings: which URLs the hotline may fetch, the audio handed to staff, and the local tone.

Twilio posts a RecordingUrl to the <Record> action; the audio is that URL plus `.mp3` or `.wav`, behind the
account's credentials. The stored URL came over the internet, so it is never fetched as it is: only its recording
SID is taken from it, and only when it names our own account under the configured API base. The URL fetched is
then built from our settings alone, so a stored URL can aim a request at nothing else (no SSRF).
"""

from __future__ import annotations

import io
import math
import re
import struct
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from workers.exceptions import RecordingRefusedError

RECORDING_SID = re.compile(r"RE[0-9a-f]{32}")
CHUNK = 64 * 1024
TONE_RATE = 8000  # a phone line's sample rate, as Twilio's own recordings
TONE_MAX_SECONDS = 2


@dataclass
class RecordingMedia:
    """One recording's audio, open at the provider: its type, its size if known, and its bytes, read once."""

    content_type: str
    size: int | None
    chunks: Iterator[bytes]
    close: Callable[[], None]


def recording_path(api_base_url: str, account_sid: str, recording_sid: str) -> str:
    """The URL of a recording of `account_sid`, as Twilio gives it in RecordingUrl (without an extension)."""
    return f"{api_base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Recordings/{recording_sid}"


def recording_sid_of(url: str, *, api_base_url: str, account_sid: str) -> str:
    """The recording SID in `url`, if `url` is a recording of our account under our API base exactly.

    Args:
        url: A RecordingUrl as stored.
        api_base_url: The configured Twilio API base, e.g. https://api.twilio.com.
        account_sid: Our account.

    Returns:
        The SID, RE followed by 32 hex digits.

    Raises:
        RecordingRefusedError: Anything else; its message names the URL's host only, never its path or secrets.
    """
    parts, base = urlsplit(url.strip()), urlsplit(api_base_url.rstrip("/"))
    host = parts.hostname or "-"
    prefix = f"{base.path}/2010-04-01/Accounts/{account_sid}/Recordings/"
    sid = parts.path.removeprefix(prefix).removesuffix(".mp3").removesuffix(".wav").removesuffix(".json")
    mine = (
        parts.scheme == base.scheme
        and parts.netloc == base.netloc  # no user:password@, no other port
        and not parts.query
        and not parts.fragment
        and parts.path.startswith(prefix)
        and RECORDING_SID.fullmatch(sid) is not None
    )
    if not mine:
        raise RecordingRefusedError(f"recording URL on {host[:80]} is not one of our account's recordings")
    return sid


def tone_wav(seconds: int) -> bytes:
    """A short playable WAV standing in for a caller's voice: a soft two-note chime, at most two seconds."""
    length = max(1, min(seconds, TONE_MAX_SECONDS)) * TONE_RATE
    frames = bytearray()
    for i in range(length):
        note = 523.25 if i < length // 2 else 392.0  # C5, then G4
        fade = min(1.0, i / 400, (length - i) / 400)  # no click at either end
        frames += struct.pack("<h", int(6000 * fade * math.sin(2 * math.pi * note * i / TONE_RATE)))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(TONE_RATE)
        wav.writeframes(bytes(frames))
    return out.getvalue()
