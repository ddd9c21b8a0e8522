"""Error reports (SENTRY_DSN): the real sentry-sdk, with its Starlette and RQ integrations, sends to a local
stand-in of Sentry's ingestion endpoint. A failing request and a failing job are each reported once, with the
request's id, and nothing of a resident leaves: no number, no name, no message, no cookie, no form."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sentry_sdk
from rq import Queue
from starlette.datastructures import Secret
from starlette.testclient import TestClient

from hotline import error_reports
from hotline.exceptions import SettingsError
from hotline.jobs.sends import send_sms
from hotline.logs import MaskedTextFormatter, RequestId
from hotline.request_log import on_request
from hotline.services import Services
from hotline.settings import load_settings
from tests.conftest import run_worker
from tests.console_helpers import PASSWORD, csrf_of, make_user
from tests.console_register_helpers import as_user, make_people
from tests.standins.sentry import SentryStandIn
from workers.queues import OUTBOUND

NUMBER, NAME, WORDS = "+8613800138000", "张秀兰", "我发烧了"


@pytest.fixture
def sentry(services: Services) -> Iterator[SentryStandIn]:
    with SentryStandIn() as standin:
        settings = dataclasses.replace(services.settings, sentry_dsn=Secret(standin.dsn))
        assert error_reports.start(settings, "web")
        try:
            yield standin
        finally:
            client = sentry_sdk.get_client()
            client.flush(timeout=5)
            client.close()
            sentry_sdk.get_global_scope().set_client(None)
            on_request.clear()


def private(text: str) -> list[str]:
    """What of the resident a report's text shows."""
    return [word for word in (NUMBER, NUMBER[3:], NAME, WORDS, PASSWORD) if word in text]


def failing(message: str) -> Callable[..., Any]:
    def fail(*args: object, **kwargs: object) -> Any:
        raise RuntimeError(message)

    return fail


def test_without_a_dsn_nothing_starts(services: Services) -> None:
    assert services.settings.sentry_dsn is None
    assert not error_reports.start(services.settings, "web")
    assert not sentry_sdk.get_client().is_active()


def test_a_dsn_must_be_one() -> None:
    with pytest.raises(SettingsError, match="SENTRY_DSN must be a Sentry DSN"):
        load_settings({"SENTRY_DSN": "not a dsn"}, env_file=None)


def test_a_failing_request_is_reported_once_scrubbed_with_its_request_id(
    client: TestClient, services: Services, sentry: SentryStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = make_people(services)
    monkeypatch.setattr(
        "hotline.console.register.update_resident", failing(f"saving {NAME} {NUMBER}: {WORDS} at 幸福里5号楼")
    )
    failing_client = TestClient(client.app, base_url=str(client.base_url), raise_server_exceptions=False)
    token = as_user(failing_client, "admin")
    response = failing_client.post(
        f"/register/residents/{people['梁阿姨']}/edit?phone={NUMBER}",
        data={"csrf_token": token, "name": NAME, "phones": NUMBER, "notes": WORDS},
    )
    assert response.status_code == 500
    [event] = sentry.wait_for_events(1)
    assert event["tags"]["request_id"] == response.headers["x-request-id"]
    assert event["tags"]["role"] == "web" and event["server_name"] == "web"
    [exception] = event["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    assert exception["value"] == "saving … ***8000: … at …5…"  # numbers masked, Chinese words left out
    request = event["request"]
    assert request["method"] == "POST" and request["url"].endswith(f"/register/residents/{people['梁阿姨']}/edit")
    assert not {"data", "cookies", "query_string"} & set(request)
    assert set(request.get("headers", {})) <= {"content-type", "content-length", "user-agent", "x-request-id", "host"}
    sent = json.dumps(sentry.items[0][1].decode(), ensure_ascii=False) + json.dumps(event, ensure_ascii=False)
    assert private(sent) == []
    assert token not in sent
    cookies = list(failing_client.cookies.values())
    assert cookies and not [value for value in cookies if value in sent]  # the signed-in session's cookie
    assert "vars" not in json.dumps(event["exception"])  # no frame's local variables
    assert sentry.refused == 0


def test_a_failing_job_is_reported_scrubbed(
    services: Services, sentry: SentryStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hotline.jobs.sends.deliver_sms", failing(f"to {NUMBER} ({NAME}): {WORDS}"))
    # A send job as the hotline queues it, but with no retries left: reported at its first failure. (With retries,
    # only the last failure is reported; the ones before are logged and retried.)
    Queue(OUTBOUND, connection=services.redis).enqueue(send_sms, 987654, job_id="send-987654")
    run_worker(services)
    [event] = sentry.wait_for_events(1)
    [exception] = event["exception"]["values"]
    assert exception["type"] == "RuntimeError" and exception["value"] == "to ***8000 (…): …"
    job = event["extra"]["rq-job"]
    assert job["job_id"] == "send-987654" and job["func"] == "hotline.jobs.sends.send_sms"
    assert private(json.dumps(event, ensure_ascii=False)) == []


def test_a_log_line_made_while_answering_a_request_carries_its_id(client: TestClient, services: Services) -> None:
    make_user(services, "clerk1")
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(MaskedTextFormatter("%(name)s: %(message)s"))
    handler.addFilter(RequestId())
    logger = logging.getLogger("hotline.console.pages")
    logger.addHandler(handler)
    old_level, logger.level = logger.level, logging.INFO
    try:
        form = client.get("/login")
        signed_in = client.post(
            "/login",
            data={"username": "clerk1", "password": PASSWORD, "csrf_token": csrf_of(form.text), "next": "/board"},
            follow_redirects=False,
        )
        logger.info("outside any request")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert signed_in.status_code == 303
    assert lines.getvalue().splitlines() == [
        f"hotline.console.pages: signed in: staff 1 id={signed_in.headers['x-request-id']}",
        "hotline.console.pages: outside any request",
    ]
