"""Playing a voicemail to staff, for the console and the API alike: the scope, the gateway's fetch, the audit
entry, and the audio streamed back. The browser only ever sees the hotline's own URL."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from dispatch import audit
from dispatch.audit import Actor
from dispatch.voicemails import triage_voicemail_url, voicemail_url
from hotline.exceptions import VoicemailUnavailable
from hotline.services import Services
from workers.exceptions import GatewayError, RecordingMissingError, RecordingRefusedError
from workers.gateways.recordings import RecordingMedia

log = logging.getLogger(__name__)


async def open_voicemail(
    services: Services, actor: Actor, where: ColumnElement[bool], task_id: int, message_id: int
) -> RecordingMedia:
    """Open one voicemail of a task in scope at the provider, and record in the audit log who listened.

    Args:
        services: The app's services.
        actor: The staff account or API token listening.
        where: Their scope (`dispatch.staff_accounts.household_scope`).
        task_id: The task.
        message_id: The message on it that carries the recording.

    Returns:
        The audio, open; `audio_response` streams and closes it.

    Raises:
        NotFound: No such task or voicemail, or not in scope.
        VoicemailUnavailable: The URL is not our account's (refused, and logged), the recording is gone, or the
            provider cannot be reached.
    """

    def stored_url(session: Session) -> str:
        return voicemail_url(session, task_id, message_id, where)

    return await _open(services, actor, stored_url, "task", task_id, message_id)


async def open_triage_voicemail(
    services: Services, actor: Actor, where: ColumnElement[bool], item_id: int, message_id: int
) -> RecordingMedia:
    """As `open_voicemail`, for a voicemail on a triage item (an unknown caller's) in scope (`triage_scope`)."""

    def stored_url(session: Session) -> str:
        return triage_voicemail_url(session, item_id, message_id, where)

    return await _open(services, actor, stored_url, "triage", item_id, message_id)


async def _open(
    services: Services, actor: Actor, stored_url: Callable[[Session], str], kind: str, object_id: int, message_id: int
) -> RecordingMedia:
    def load() -> str:
        with services.readonly() as session:
            return stored_url(session)

    url = await run_in_threadpool(load)
    media = await open_recorded(services, url, f"{kind} {object_id} message {message_id}")
    await audited(services, media, actor, kind, object_id, f"voicemail message:{message_id}")
    return media


async def open_recorded(services: Services, url: str, where_from: str) -> RecordingMedia:
    """Open a recording the voice hotline's provider made (a voicemail, a liaison's greeting) from its stored URL.

    Raises:
        VoicemailUnavailable: The URL is not our account's (refused, and logged), the recording is gone, or the
            provider cannot be reached.
    """
    try:
        # Recorded by the voice hotline's provider (Twilio, or the local simulator), whichever gateway carries the SMS.
        recorder = services.gateway_named("twilio") if "twilio" in services.settings.gateways else services.gateway
        return await run_in_threadpool(recorder.open_recording, url)
    except RecordingRefusedError as exc:
        # A stored URL aimed elsewhere: never fetched. The message names its host only, not its path or secrets.
        log.warning("recording refused: %s: %s", where_from, exc)
        raise VoicemailUnavailable(404, "voicemail_refused") from None
    except RecordingMissingError:
        log.info("recording gone at the provider: %s", where_from)
        raise VoicemailUnavailable(404, "voicemail_gone") from None
    except (GatewayError, OSError) as exc:
        log.warning("recording not fetched: %s: %s", where_from, exc)
        raise VoicemailUnavailable(502, "voicemail_unreachable") from None


async def audited(
    services: Services, media: RecordingMedia, actor: Actor, kind: str, object_id: int, detail: str
) -> None:
    """Record who listened, in the audit log; the audio is closed if that fails (none leaves without its entry)."""

    def record() -> None:
        with services.sessions.begin() as session:
            audit.record(session, actor, "listen", kind, object_id, detail=detail, at=services.clock())

    try:
        await run_in_threadpool(record)
    except BaseException:
        media.close()  # no audio leaves without its audit entry
        raise


def audio_response(media: RecordingMedia) -> StreamingResponse:
    """Stream the audio as it arrives from the provider; never cached, since a voicemail may hold health details."""
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    if media.size is not None:
        headers["Content-Length"] = str(media.size)
    return StreamingResponse(_chunks(media), media_type=media.content_type, headers=headers)


def _chunks(media: RecordingMedia) -> Iterator[bytes]:
    try:
        yield from media.chunks
    finally:
        media.close()
