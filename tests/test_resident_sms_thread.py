"""A resident's page shows their SMS thread, in and out, newest first, with each sent message's delivery status:
what a clerk needs when the resident phones to ask "did you get my message?"."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from hotline.services import Services
from tests.conftest import post_signed, run_worker, sms_params
from tests.console_register_helpers import as_user, make_people


def test_the_residents_page_shows_their_sms_both_ways_and_no_one_elses(client: TestClient, services: Services) -> None:
    people = make_people(services)
    for phone, body in (("+8613800138000", "帮我买药"), ("+8613800138001", "王大爷要买米")):
        assert post_signed(client, services, "/twilio/sms", sms_params(body, from_phone=phone)).status_code == 200
    run_worker(services)
    as_user(client, "clerk")
    page = client.get(f"/register/residents/{people['梁阿姨']}").text
    thread = page[page.index('id="sms"') : page.index('id="calls"')]
    rows = re.findall(r"<tr>(.*?)</tr>", thread, re.S)
    assert len(rows) == 2, thread
    newest, oldest = rows
    assert "热线发出" in newest and "已发出" in newest and "已收到您的消息" in newest  # the receipt, handed over
    assert "居民发来" in oldest and "帮我买药" in oldest
    assert "王大爷要买米" not in page  # another resident's message
