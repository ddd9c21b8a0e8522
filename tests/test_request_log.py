"""One log line per request (`hotline.request_log.RequestLog`): what a webhook did rides on it, with a request id,
the route, the status and the time taken; no number, query string or message text in it.

The lines are checked as the logging configuration of `hotline serve` writes them (`hotline.logs.log_config`),
in a process of their own, and as records in the test's own process, through Starlette's TestClient.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import subprocess
import sys
import textwrap

import pytest
from starlette.testclient import TestClient

from dispatch.phones import mask_phone
from hotline import request_log
from hotline.logs import uvicorn_options
from hotline.services import Services
from tests.conftest import RESIDENT_PHONE, post_signed, sms_params

REQUEST_LINE = re.compile(
    r'^(\S+) - "POST /twilio/sms HTTP/1.1" 200 route=/twilio/sms (\d+)us id=([0-9a-f]{6}-[0-9a-f]+)'
    r" inbound sms message=(\d+) from=(\S+) (stored|duplicate)$"
)


def request_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "hotline.access"]


def test_an_inbound_sms_writes_one_line_with_its_id_route_status_time_and_outcome(
    client: TestClient, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    params = sms_params("我胸口痛")
    first = post_signed(client, services, "/twilio/sms", params)
    again = post_signed(client, services, "/twilio/sms", params)  # Twilio's retry
    assert (first.status_code, again.status_code) == (200, 200)
    lines = request_records(caplog)
    assert len(lines) == 2, [r.getMessage() for r in caplog.records]
    # Nothing else at INFO for these requests: the webhook's outcome is on the request's line, not on its own.
    ours = [r for r in caplog.records if r.name.startswith("hotline")]  # not the test client's own (httpx2)
    assert [r.getMessage() for r in ours if r.levelno >= logging.INFO and r not in lines] == []
    found = [m for r in lines if (m := REQUEST_LINE.match(r.getMessage()))]
    assert len(found) == 2, [r.getMessage() for r in lines]
    (_, _, id_1, message_1, from_1, outcome_1), (_, _, id_2, message_2, _, outcome_2) = [m.groups() for m in found]
    assert (outcome_1, outcome_2) == ("stored", "duplicate") and message_1 == message_2
    assert from_1 == mask_phone(RESIDENT_PHONE) == "138****8000"
    assert id_1 != id_2 and (first.headers["x-request-id"], again.headers["x-request-id"]) == (id_1, id_2)
    # The same facts as fields of their own, for JSON lines.
    fields = lines[0].__dict__
    assert (fields["request_id"], fields["route"], fields["status"]) == (id_1, "/twilio/sms", 200)
    assert isinstance(fields["duration_us"], int) and fields["duration_us"] > 0
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert RESIDENT_PHONE[3:] not in text and "胸口痛" not in text


def test_a_refused_request_and_a_missing_page_have_their_line_too(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert client.post("/twilio/sms", data=sms_params()).status_code == 403
    assert client.get("/no/such/page?phone=13800138000").status_code == 404
    refused, missing = [r.getMessage() for r in request_records(caplog)]
    assert '"POST /twilio/sms HTTP/1.1" 403 route=/twilio/sms ' in refused
    # No route matched; the query string is never written (it may hold a number, or Tencent's secret).
    assert '"GET /no/such/page?… HTTP/1.1" 404 route=- ' in missing and "13800138000" not in missing


def test_the_query_string_is_never_written(
    client: TestClient, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    post_signed(client, services, "/twilio/status?o=12345", {"MessageSid": "SM" + "0" * 32, "MessageStatus": "sent"})
    (line,) = [r.getMessage() for r in request_records(caplog)]
    assert '"POST /twilio/status?… HTTP/1.1" 204 route=/twilio/status ' in line and "12345" not in line
    assert line.endswith(f"status report for SM{'0' * 32}: sent (unknown message)")


EMIT = textwrap.dedent("""
    import asyncio, logging.config, sys
    from hotline.logs import log_config
    from hotline.request_log import RequestLog

    logging.config.dictConfig(log_config("web", sys.argv[1]))

    async def app(scope, receive, send):
        scope["hotline.note"] = "inbound sms from=+8613800138009"  # a number a note forgot to mask
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def main():
        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}
        async def send(message):
            pass
        scope = {"type": "http", "method": "POST", "path": "/twilio/sms", "query_string": b"s=secret",
                 "http_version": "1.1", "client": ("10.0.0.7", 5678), "headers": []}
        await RequestLog(app)(scope, receive, send)

    asyncio.run(main())
""")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_line_as_hotline_serve_writes_it(fmt: str) -> None:
    """On stdout, as uvicorn's access lines were, laid out as they were (what the proxy tests and staff read), with
    numbers masked and no query string; uvicorn's own access line is off."""
    assert uvicorn_options()["access_log"] is False
    done = subprocess.run([sys.executable, "-c", EMIT, fmt], capture_output=True, text=True, timeout=60, check=True)
    assert done.stderr == ""
    (line,) = done.stdout.splitlines()
    assert "8613800138009" not in line and "secret" not in line
    if fmt == "text":
        assert re.fullmatch(
            r'INFO:     10\.0\.0\.7:5678 - "POST /twilio/sms\?… HTTP/1\.1" 200 route=- \d+us id=[0-9a-f-]+'
            r" inbound sms from=\*\*\*8009",
            line,
        ), line
    else:
        record = json.loads(line)
        assert (record["logger"], record["level"], record["role"], record["status"]) == (
            "hotline.access",
            "INFO",
            "web",
            200,
        )
        assert record["route"] == "-" and record["request_id"] in record["message"]
        assert isinstance(record["duration_us"], int)


def test_a_duration_never_reads_like_a_temperature(monkeypatch: pytest.MonkeyPatch) -> None:
    """38.6 ms written as "38.6ms" would read like a fever of 38.6 °C in a log line: durations are whole µs."""
    clock = itertools.chain([100.0], itertools.repeat(100.0386))
    monkeypatch.setattr("hotline.request_log.time.perf_counter", lambda: next(clock))
    records: list[logging.LogRecord] = []
    monkeypatch.setattr(request_log.log, "handle", records.append)
    monkeypatch.setattr(request_log.log, "isEnabledFor", lambda level: True)

    async def app(scope: object, receive: object, send: object) -> None:
        assert callable(send)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: object) -> None:
        pass

    scope = {"type": "http", "method": "GET", "path": "/board", "query_string": b"", "http_version": "1.1"}
    asyncio.run(request_log.RequestLog(app)(scope, receive, send))
    (record,) = records
    assert " 38600us id=" in record.getMessage() and "38.6" not in record.getMessage()
    assert record.__dict__["duration_us"] == 38600
