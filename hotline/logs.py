"""Logging for the web server: uvicorn's access lines without query strings.

A query string can carry a phone number (the simulator's `?phone=`, a search's `?q=`), and no log line may hold
a full number. The path alone is enough to read the log by.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG


class DropQueryStrings(logging.Filter):
    """Cut the query string off the request path in uvicorn's access records."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?…", *args[3:])
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration, with DropQueryStrings on the access log."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["drop_query_strings"] = {"()": DropQueryStrings}
    config["handlers"]["access"]["filters"] = ["drop_query_strings"]
    return config


def uvicorn_options() -> dict[str, Any]:
    """How `hotline serve` runs uvicorn (the benchmarks run their baseline app the same way)."""
    # proxy_headers: behind a proxy, X-Forwarded-Proto is trusted only from the addresses uvicorn is told.
    return {"log_level": "info", "proxy_headers": True, "log_config": uvicorn_log_config()}
