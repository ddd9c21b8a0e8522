"""Logging as the processes set it up: text or JSON lines (HOTLINE_LOG_FORMAT), numbers masked in both.

Each check runs a real process: `hotline worker --burst`, or a Python that calls `configure_logging` as the
commands do, so the handlers, formatters and filters are the product's own, writing to a real stderr.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from hotline.logs import mask_digits

EMIT = textwrap.dedent("""
    import logging, sys
    from hotline.logs import configure_logging

    configure_logging("scheduler", sys.argv[1])
    log = logging.getLogger("hotline.test")
    log.info("sent to %s and %s", "+8613800138000", "13800138001")
    log.warning("landline +862087654321 and UK +442071838750; not 1234567890, not SM0123456789012345abc")
    try:
        raise ValueError("no such number 13800138002")
    except ValueError:
        log.exception("failed")
    log.info("with an extra field", extra={"to": "+8613800138003"})
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET",
                                             "/register?q=13800138004", "1.1", 200)
    try:
        raise ValueError("no resident +8613800138005")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET",
                                             "/simulator/13800138006", "1.1", 404)
""")
NUMBERS = [
    "8613800138000",
    "13800138001",
    "862087654321",
    "442071838750",
    "13800138002",
    "13800138003",
    "13800138004",
    "13800138005",
    "13800138006",
]


def emit(fmt: str) -> str:
    done = subprocess.run([sys.executable, "-c", EMIT, fmt], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.count("\n") == 2  # uvicorn's access lines, on stdout as uvicorn writes them; the rest on stderr
    assert "Logging error" not in done.stderr  # a masked access record still formats
    return done.stderr + done.stdout


def test_json_lines_parse_and_carry_time_level_logger_message_and_role() -> None:
    lines = emit("json").splitlines()
    assert len(lines) == 7, lines  # one line each, the traceback inside its record
    records = [json.loads(line) for line in lines]
    for record in records:
        assert {"time", "level", "logger", "message", "role"} <= set(record), record
        assert record["role"] == "scheduler" and record["time"].endswith("+00:00")
    assert [(r["level"], r["logger"]) for r in records] == [
        ("INFO", "hotline.test"),
        ("WARNING", "hotline.test"),
        ("ERROR", "hotline.test"),
        ("INFO", "hotline.test"),
        ("ERROR", "uvicorn.error"),
        ("INFO", "uvicorn.access"),
        ("INFO", "uvicorn.access"),
    ]  # (stderr, then uvicorn's access lines from stdout)
    assert records[0]["message"] == "sent to ***8000 and ***8001"
    assert "ValueError: no such number ***8002" in records[2]["exc_info"]
    assert records[3]["to"] == "***8003"
    assert "ValueError: no resident ***8005" in records[4]["exc_info"]
    assert records[5]["message"] == '127.0.0.1:5 - "GET /register?… HTTP/1.1" 200'  # no query string
    assert records[6]["message"] == '127.0.0.1:5 - "GET /simulator/***8006 HTTP/1.1" 404'


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_no_full_number_in_either_format(fmt: str) -> None:
    out = emit(fmt)
    assert not [number for number in NUMBERS if number in out]
    # What is not a number is left as it was: a 10-digit run, a SID.
    assert "1234567890" in out and "SM0123456789012345abc" in out
    assert "***4321" in out and "***8750" in out
    assert "no resident ***8005" in out  # uvicorn's own traceback of a failed request
    assert "/simulator/***8006" in out  # an access line with a number in its path keeps its line


def test_mask_digits() -> None:
    assert mask_digits("to +8613800138000.") == "to ***8000."
    assert mask_digits("手机13800138000的") == "手机***8000的"
    assert mask_digits("+1234567 +123456") == "***4567 +123456"  # E.164: + and 7 digits or more
    assert mask_digits("id 12345678901234567890") == "id ***7890"
    assert mask_digits("order 1234567890, SID CA01234567890123") == "order 1234567890, SID CA01234567890123"
    assert mask_digits("From=%2B8613800138000&") == "From=***8000&"  # URL-encoded
    assert mask_digits("+86 138 0013 8000; 138-0013-8000") == "***8000; ***8000"  # spaced or dashed
    assert mask_digits("at 2026-11-23 01:33:49,443") == "at 2026-11-23 01:33:49,443"  # a time is not a number


def test_a_worker_writes_json_lines_with_its_role(environ: dict[str, str]) -> None:
    env = {**environ, "HOTLINE_LOG_FORMAT": "json"}
    done = subprocess.run(
        [sys.executable, "-m", "hotline", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) >= 3, lines
    records = [json.loads(line) for line in lines]
    assert {r["role"] for r in records} == {"worker"}
    assert any(r["logger"] == "rq.worker" and "Listening on" in r["message"] for r in records), records
