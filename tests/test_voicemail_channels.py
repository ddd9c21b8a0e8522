"""Voicemails where SMS go through another gateway: the voice hotline is Twilio's, so its recordings are fetched
from Twilio whichever gateway carries the SMS (here a community's own Android phone)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from hotline.services import Services
from hotline.settings import Settings, load_settings
from tests.android_helpers import SIGNING_KEY
from tests.conftest import DUTY_PHONE
from tests.test_voicemails import (  # the same stand-in, voicemail and tokens, on these settings
    ACCOUNT_SID,
    MP3,
    bearer,
    recording_requests,
    standin,
    tokens,
    voicemail,
)
from tests.twilio_standin import TwilioStandIn
from workers.gateways.android_sms import AndroidSmsGateway

__all__ = ["standin", "tokens", "voicemail"]  # fixtures, used by name


@pytest.fixture
def settings(environ: dict[str, str], standin: TwilioStandIn) -> Settings:
    """SMS through an Android phone (never reached here), the voice hotline and its recordings on Twilio."""
    return load_settings(
        {
            **environ,
            "HOTLINE_GATEWAY": "android",
            "ANDROID_PHONES": "a=http://sms:a-password@127.0.0.1:9",
            "ANDROID_SIGNING_KEY": SIGNING_KEY,
            "HOTLINE_GATEWAYS": "twilio",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_API_BASE_URL": standin.base_url,
            "HOTLINE_DUTY_PHONE": DUTY_PHONE,
        },
        env_file=None,
    )


def test_a_voicemail_is_fetched_from_twilio_while_sms_go_through_the_phones(
    client: TestClient, services: Services, standin: TwilioStandIn, voicemail: tuple[int, int], tokens: dict[str, str]
) -> None:
    assert isinstance(services.gateway, AndroidSmsGateway)
    task_id, message_id = voicemail
    audio = client.get(f"/api/v1/tasks/{task_id}/voicemails/{message_id}", headers=bearer(tokens["clerk"]))
    assert audio.status_code == 200, audio.text
    assert audio.content == MP3 and len(recording_requests(standin)) == 1
