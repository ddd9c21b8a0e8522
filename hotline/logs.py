"""Logging for every process: one configuration, text (the default) or JSON lines, with numbers masked.

`configure_logging(role, fmt)` sets up `hotline worker`, `scheduler` and `run`; `hotline serve` hands the same
configuration to uvicorn (`uvicorn_options`), which applies it. A JSON line carries at least `time` (ISO 8601,
UTC), `level`, `logger`, `message` and `role` (web, worker, scheduler, supervisor).

No log line may hold a full phone number. The code masks numbers where it logs them (`dispatch.phones.mask_phone`);
every formatter masks the whole line it renders, as the safety net: any digit run that looks like a number (`+` and
7 to 15 digits, spaced or not, or 11 digits or more, such as a Chinese mobile) becomes `***` and its last four.
A query string can carry a number too (the simulator's `?phone=`, a search's `?q=`): the web process's request
lines never write it (`hotline.request_log`), and uvicorn's access lines, were they turned on, lose theirs
(`DropQueryStrings`).

`hotline serve` writes one line per request, the app's own (`hotline.request_log.RequestLog`, on the
`hotline.access` logger, to stdout as uvicorn's access lines were): uvicorn's access log is off.
"""

from __future__ import annotations

import copy
import logging
import logging.config
import re
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter
from uvicorn.config import LOGGING_CONFIG

from hotline.request_log import current_request_id

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Not inside a word (a SID): `+` (or its URL encoding `%2B`) and 7 to 15 digits, spaces or dashes allowed between
# them; a bare run of 11 digits or more; a Chinese mobile written 138 0013 8000 or 138-0013-8000.
PHONE_LIKE = re.compile(
    r"(?<![0-9A-Za-z+])(?:(?:\+|%2[Bb])[0-9](?:[ -]?[0-9]){6,14}|[0-9]{11,}|1[3-9][0-9](?:[ -][0-9]{4}){2})(?![0-9])"
)


def mask_digits(text: str) -> str:
    """Every phone-number-like digit run in `text` as `***` and its last four digits."""
    return PHONE_LIKE.sub(lambda m: "***" + re.sub(r"[^0-9]", "", m.group(0))[-4:], text)


class RequestId(logging.Filter):
    """Give a record made while a request is answered that request's id (`request_id`), as its one line has:
    text lines end in `id=…`, JSON lines carry the field."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id.get()
        if request_id is not None and getattr(record, "request_id", None) is None:
            record.request_id = request_id
        return True


def _with_request_id(line: str, record: logging.LogRecord) -> str:
    request_id = getattr(record, "request_id", None)
    if request_id is None:
        return line
    first, newline, rest = line.partition("\n")  # after the message, before a traceback
    return f"{first} id={request_id}{newline}{rest}"


class DropQueryStrings(logging.Filter):
    """Cut the query string off the request path in uvicorn's access records."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?…", *args[3:])
        return True


class MaskedTextFormatter(logging.Formatter):
    """The text format, with numbers masked in the whole line: a traceback too."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_digits(_with_request_id(super().format(record), record))


class MaskedJsonFormatter(JsonFormatter):
    """JSON lines: time, level, logger, message, role, and whatever the record carries besides, every string of
    it (a traceback, an `extra` field) with numbers masked."""

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {key: mask_digits(value) if isinstance(value, str) else value for key, value in log_data.items()}


class MaskedRequestLine(logging.Formatter):
    """A request's line (`hotline.request_log`) in text, laid out as uvicorn's access lines are (`INFO:     ` and
    the message), numbers masked; lighter than uvicorn's formatter, which copies each record: it runs on every
    request."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{record.levelname}:{' ' * (8 - len(record.levelname))} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return mask_digits(line)


def json_formatter(role: str) -> logging.Formatter:
    return MaskedJsonFormatter(
        ["levelname", "name", "message"],
        rename_fields={"levelname": "level", "name": "logger"},
        static_fields={"role": role},
        timestamp="time",
        json_ensure_ascii=False,  # Chinese stays readable, and a word searched for is found as written
    )


def formatter(fmt: LogFormat, role: str, uvicorn_style: str | None = None) -> logging.Formatter:
    """The formatter of a handler: JSON, or text (uvicorn's own format for its handlers, ours elsewhere)."""
    if fmt == "json":
        return json_formatter(role)
    if uvicorn_style is None:
        return MaskedTextFormatter(TEXT_FORMAT)
    from uvicorn.logging import AccessFormatter, DefaultFormatter

    class MaskedAccess(AccessFormatter):
        def format(self, record: logging.LogRecord) -> str:
            return mask_digits(super().format(record))

    class MaskedDefault(DefaultFormatter):  # uvicorn's "Exception in ASGI application" and its traceback
        def format(self, record: logging.LogRecord) -> str:
            return mask_digits(_with_request_id(super().format(record), record))

    if uvicorn_style == "request":
        return MaskedRequestLine()
    if uvicorn_style == "access":
        return MaskedAccess(LOGGING_CONFIG["formatters"]["access"]["fmt"])
    return MaskedDefault(LOGGING_CONFIG["formatters"]["default"]["fmt"])


def log_config(role: str, fmt: LogFormat = "text", level: str = "INFO") -> dict[str, Any]:
    """The `logging.config.dictConfig` of a process: uvicorn's own loggers and handlers (the access log without
    query strings), a root handler for everything else, numbers masked by every formatter."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"] = {
        "default": {"()": formatter, "fmt": fmt, "role": role, "uvicorn_style": "default"},
        "access": {"()": formatter, "fmt": fmt, "role": role, "uvicorn_style": "access"},
        "request": {"()": formatter, "fmt": fmt, "role": role, "uvicorn_style": "request"},
        "root": {"()": formatter, "fmt": fmt, "role": role},
    }
    config["filters"] = {"drop_query_strings": {"()": DropQueryStrings}, "request_id": {"()": RequestId}}
    config["handlers"]["access"]["filters"] = ["drop_query_strings"]
    config["handlers"]["default"]["filters"] = ["request_id"]
    config["handlers"]["root"] = {
        "class": "logging.StreamHandler",
        "formatter": "root",
        "stream": "ext://sys.stderr",
        "filters": ["request_id"],
    }
    # One line per request (RequestLog), on stdout as uvicorn's access lines were, in uvicorn's text layout.
    config["handlers"]["request"] = {
        "class": "logging.StreamHandler",
        "formatter": "request",
        "stream": "ext://sys.stdout",
    }
    # One line per request at INFO: HOTLINE_LOG_LEVEL=WARNING (the demo's default) leaves them out.
    config["loggers"]["hotline.access"] = {"handlers": ["request"], "level": level, "propagate": False}
    for name in ("uvicorn", "uvicorn.error"):
        config["loggers"][name]["level"] = level
    config["root"] = {"handlers": ["root"], "level": level}
    config["loggers"]["alembic"] = {"level": "WARNING"}
    return config


def configure_logging(role: str, fmt: LogFormat = "text", level: str = "INFO") -> None:
    """Set up logging for a process that is not uvicorn's (`hotline worker`, `scheduler`, `run`)."""
    lighter_records()
    logging.config.dictConfig(log_config(role, fmt, level))


def lighter_records() -> None:
    """Records without the process's id and name, which no format here writes: making one is then cheaper, on
    every request's line (`RequestLog`) too. The thread is kept (tests tell their own client's records by it)."""
    logging.logProcesses = logging.logMultiprocessing = False


def uvicorn_log_config(fmt: LogFormat = "text", role: str = "web", level: str = "INFO") -> dict[str, Any]:
    """uvicorn's own logging configuration, with DropQueryStrings on the access log and numbers masked."""
    return log_config(role, fmt, level)


def uvicorn_options(
    fmt: LogFormat = "text", role: str = "web", forwarded_allow_ips: str = "", level: str = "INFO"
) -> dict[str, Any]:
    """How `hotline serve` runs uvicorn (the benchmarks run their baseline app the same way).

    uvicorn's access log is off: the app writes one line per request itself, with more in it (`RequestLog`).
    X-Forwarded-For/-Proto are believed only from `forwarded_allow_ips` (the setting, passed on: uvicorn's own
    default would trust 127.0.0.1, that is any local process, and a .env file it never reads), from no one if empty.
    """
    lighter_records()
    proxy = {"proxy_headers": True, "forwarded_allow_ips": forwarded_allow_ips} if forwarded_allow_ips else {}
    return {
        "log_level": level.lower(),
        "access_log": False,
        "proxy_headers": False,
        **proxy,
        "log_config": uvicorn_log_config(fmt, role, level),
    }
