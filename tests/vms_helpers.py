"""What the Tencent voice message tests share: the stand-in's keys, the gateway against it, a town with a resident
on voice with a mobile, and the callbacks Tencent posts, wrapped in their kind's key."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import httpx2 as httpx
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.channels import CHANNELS
from dispatch.models import Channel, Checkin, CheckinEvent, OutboundMessage
from dispatch.voice_templates import CheckinVoiceTemplate
from hotline.services import Services
from hotline.webhooks.paths import Tencent
from tests.conftest import BACKUP_PHONE, LIAISON_PHONE, make_town
from tests.route_requests import row_counts
from workers.gateways.tencent_vms import TencentVoiceGateway

SECRET_ID = "AKID" + "Ab1" * 10
SECRET_KEY = "Kx9" * 11
VOICE_APP_ID = "1400007777"
CALLBACK_SECRET = "Tc-callback-" + "s3cr3t" * 4
VOICE_URL = f"{Tencent.VOICE}?s={CALLBACK_SECRET}"
OK = {"result": 0, "errmsg": "OK"}
QIAN = "钱奶奶"  # on voice, with a mobile: her check-in is a call
QIAN_PHONE = "+8613900000010"


def voice_gateway(endpoint: str, *, key: str = SECRET_KEY, timeout: int = 10) -> TencentVoiceGateway:
    return TencentVoiceGateway(
        secret_id=SECRET_ID,
        secret_key=key,
        app_id=VOICE_APP_ID,
        region="ap-guangzhou",
        endpoint=endpoint,
        template=CheckinVoiceTemplate.load(),
        timeout=timeout,
    )


def calls_through_vms(services: Services, endpoint: str) -> None:
    """The services' calls go through Tencent's voice messages at `endpoint`, as HOTLINE_CALL_GATEWAY=tencent."""
    services.voice_gateway = voice_gateway(endpoint)
    services.intake = replace(services.intake, calls=CHANNELS["tencent"])


def town_with_qian(services: Services) -> dict[str, int]:
    ids = make_town(services)
    with services.sessions.begin() as session:
        resident = register.add_resident(
            session,
            name=QIAN,
            phones=[QIAN_PHONE],
            liaison_phone=LIAISON_PHONE,
            backup_liaison_phone=BACKUP_PHONE,
            address=register.Address("幸福里社区", "1号楼", "1单元", "110"),
            region="CN",
            channel=Channel.VOICE,
        )
        session.flush()
        ids[QIAN] = resident.id
    return ids


def post_callback(client: TestClient, kind: str, url: str = VOICE_URL, **fields: Any) -> httpx.Response:
    body = {kind: {"call_from": "", "mobile": QIAN_PHONE.removeprefix("+86"), "nationcode": "86", **fields}}
    payload = json.dumps(body, ensure_ascii=False).encode()
    return client.post(url, content=payload, headers={"Content-Type": "application/json"})


def key(client: TestClient, call_id: str, keypress: str) -> httpx.Response:
    return post_callback(client, "voicekey_callback", callid=call_id, keypress=keypress)


def ended(client: TestClient, call_id: str, result: str) -> httpx.Response:
    times = {"accept_time": "1900000010", "start_calltime": "1900000000", "end_calltime": "1900000040", "fee": "1"}
    return post_callback(client, "voiceprompt_callback", callid=call_id, result=result, **times)


def failed(client: TestClient, call_id: str, code: int) -> httpx.Response:
    return post_callback(client, "voice_failure_callback", callid=call_id, failure_code=code, failure_reason="stand-in")


def call_ids(services: Services, phone: str = QIAN_PHONE) -> list[str]:
    """The provider's ids of the check-in calls placed to `phone`, oldest first."""
    with services.sessions() as session:
        found = select(OutboundMessage.provider_sid).where(
            OutboundMessage.to_phone == phone, OutboundMessage.kind == "checkin"
        )
        return [sid or "" for sid in session.scalars(found.order_by(OutboundMessage.id))]


def call_events(services: Services, resident_id: int) -> list[tuple[str, str]]:
    """The check-in events of a resident's calls and visit, in order, without their times."""
    with services.sessions() as session:
        rows = session.execute(
            select(CheckinEvent.kind, CheckinEvent.detail)
            .join(Checkin)
            .where(Checkin.resident_id == resident_id)
            .order_by(CheckinEvent.id)
        ).all()
    return [(kind, detail.split("; again at")[0]) for kind, detail in rows]


def stored_rows(services: Services) -> dict[str, int]:
    """Rows in every table: what "stored once" and "nothing stored" are checked against (Redis's keys left out:
    the workers that ran keep their own there)."""
    counts = row_counts(services)
    del counts["redis keys"]
    return counts
