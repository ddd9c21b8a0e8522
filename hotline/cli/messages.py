"""Messages: the local outbox, the inbox, and a signed test SMS."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import click

from dispatch.inbound import recent_inbound
from dispatch.models import InboundOutcome
from dispatch.outbox import recent_local_outbox
from dispatch.phones import mask_phone
from hotline.cli.base import (
    domain_errors,
    main,
    read_sessions,
    settings_or_exit,
)
from hotline.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("hotline")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
def outbox(as_json: bool, limit: int) -> None:
    """What the local gateway recorded (what would have been sent), newest first."""
    settings = settings_or_exit()
    with read_sessions(settings)() as session:
        rows = recent_local_outbox(session, limit=limit)
        records = [
            {
                "to": row.to_phone,
                "kind": row.kind,
                "body": row.body,
                "time": _local_time(row.created_at, settings),
                "status": row.status,
                "sid": row.sid,
            }
            for row in rows
        ]
    _print_records(records, as_json, "{time}  {status:<6} {kind} to {to}: {body}", "outbox is empty")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--unregistered", is_flag=True, help="Only messages from numbers not in the register.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
def inbox(as_json: bool, unregistered: bool, limit: int) -> None:
    """Inbound SMS as stored, newest first, with what became of each (an unknown sender's: its triage item)."""
    settings = settings_or_exit()
    outcome = InboundOutcome.UNKNOWN_SENDER if unregistered else None
    with read_sessions(settings)() as session:
        records = [
            {
                "from": row.from_phone,
                "body": row.body,
                "time": _local_time(row.received_at, settings),
                "outcome": row.outcome or "waiting",
                "sid": row.provider_sid,
                "triage": f"#{row.triage_item_id}" if row.triage_item_id else "-",  # its item on the board
            }
            for row in recent_inbound(session, limit=limit, outcome=outcome)
        ]
    _print_records(records, as_json, "{time}  {outcome:<14} {triage:<5} from {from}: {body}", "inbox is empty")


def _local_time(moment: datetime, settings: Settings) -> str:
    return moment.astimezone(settings.timezone).isoformat(timespec="seconds")


def _print_records(records: list[dict[str, str]], as_json: bool, line: str, empty: str) -> None:
    """One JSON object per line, or one formatted line per record; `empty` when there are none (text only)."""
    for record in records:
        click.echo(json.dumps(record, ensure_ascii=False) if as_json else line.format(**record))
    if not records and not as_json:
        click.echo(empty)


@main.command("simulate-sms")
@click.option("--from", "from_phone", required=True, help="The sender's number, as a phone would show it.")
@click.option("--url", default=None, help="Base URL of the running hotline (default: HOTLINE_PUBLIC_URL).")
@click.argument("body")
@domain_errors
def simulate_sms(from_phone: str, url: str | None, body: str) -> None:
    """Send a signed inbound SMS to a running hotline, exactly as Twilio would."""
    from dispatch.phones import normalize_phone
    from hotline.webhooks import paths
    from hotline.webhooks.signatures import SIGNATURE_HEADER, TwilioSignatureCheck

    settings = settings_or_exit()
    base = (url or settings.public_url).rstrip("/")
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": settings.twilio_account_sid or "AC" + "0" * 32,
        "From": normalize_phone(from_phone, settings.region),
        "To": settings.twilio_from_number or "+10000000000",
        "Body": body,
        "NumMedia": "0",
    }
    # Signed for the URL the server believes it is reached at, as Twilio signs for the URL it calls.
    signature = TwilioSignatureCheck(str(settings.twilio_auth_token), settings.public_url).sign(paths.SMS, params)
    request = urllib.request.Request(  # noqa: S310  # an http(s) URL we were given
        base + paths.SMS,
        data=urllib.parse.urlencode(params).encode(),
        headers={SIGNATURE_HEADER: signature, "Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            click.echo(f"{response.status} {params['MessageSid']} from {mask_phone(params['From'])}")
    except urllib.error.HTTPError as exc:
        raise click.ClickException(f"the hotline answered {exc.code}: {exc.read().decode(errors='replace')}") from None
    except urllib.error.URLError as exc:
        raise click.ClickException(f"cannot reach the hotline at {base}: {exc.reason}") from None
