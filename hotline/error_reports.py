"""Optional error reports to Sentry (or any server that takes its protocol), switched on by SENTRY_DSN.

Off unless SENTRY_DSN is set: then every process (web, worker, scheduler) sends its unhandled errors, those of
Starlette's requests and RQ's jobs by their integrations (a job once it has failed for the last time, its retries
spent: a retried hiccup is not an error), and log records at ERROR, with the breadcrumbs leading up to them.
Nothing about a resident may leave the machine, so before anything is sent:

- no request body, no cookies, no local variables of a frame, no user, no IP address, no job's arguments (the
  SDK's own `data_collection` options);
- of the request, only its method, its route's path and a few plain headers; never its query string;
- in every string left (an exception's message, a log message, a breadcrumb, a job's description): every
  phone-number-like run of digits masked as the log lines mask it, and every run of Chinese characters (names,
  addresses and message bodies here are written in them) replaced by `…`.

Each report carries the request id of the request it came from (`X-Request-ID`, and on that request's log lines),
so a report, the log and a provider's own record of the request can be put side by side.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from hotline.logs import mask_digits
from hotline.request_log import current_request_id, on_request
from hotline.settings import Settings

if TYPE_CHECKING:
    from sentry_sdk._types import Event

# CJK ideographs (with extension A and the compatibility block) and full-width punctuation: the words of a
# resident's name, address or message.
_HAN = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]+")
_PLAIN_HEADERS = frozenset({"content-type", "content-length", "user-agent", "x-request-id", "host"})
_DROPPED = ("data", "cookies", "query_string", "env")


def start(settings: Settings, role: str) -> bool:
    """Start sending error reports if SENTRY_DSN is set. Returns whether it did."""
    if settings.sentry_dsn is None:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.logging import LoggingIntegration
    from sentry_sdk.integrations.rq import RqIntegration
    from sentry_sdk.integrations.starlette import StarletteIntegration

    sentry_sdk.init(
        dsn=str(settings.sentry_dsn),
        integrations=[StarletteIntegration(), RqIntegration(), LoggingIntegration(event_level=logging.ERROR)],
        # What the integrations may collect at all: no user, no cookies, no body, no query string, no local
        # variables, no database parameters, no job payloads; of the headers, only the plain ones.
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {"request": {"mode": "allowlist", "terms": sorted(_PLAIN_HEADERS)}},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "database_query_data": False,
            "queues": False,
            "stack_frame_variables": False,
        },
        max_request_body_size="never",
        traces_sample_rate=None,  # errors only: no performance data
        auto_session_tracking=False,
        send_client_reports=False,
        server_name=role,  # not the host's name: which of the hotline's processes it was is what helps
        before_send=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
    )
    sentry_sdk.set_tag("role", role)
    if _tag_request not in on_request:
        on_request.append(_tag_request)
    return True


def _tag_request(request_id: str) -> None:
    """Put the request's id on its error reports: on the scope Sentry keeps for this request alone, which its
    ASGI middleware, outside `RequestLog`, reports an unhandled error with."""
    import sentry_sdk

    sentry_sdk.get_isolation_scope().set_tag("request_id", request_id)


def scrub_event(event: Event, hint: dict[str, Any]) -> Event:
    """The report as it may leave: see the module's docstring. Adds the request id."""
    request = event.get("request")
    if isinstance(request, dict):
        for key in _DROPPED:
            request.pop(key, None)
        url = request.get("url")
        if isinstance(url, str):
            request["url"] = url.split("?", 1)[0]
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {k: v for k, v in headers.items() if k.lower() in _PLAIN_HEADERS}
    event.pop("user", None)
    request_id = current_request_id.get()
    if request_id is not None:
        event.setdefault("tags", {})["request_id"] = request_id
    scrubbed: Event = _scrub(event)
    return scrubbed


def scrub_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """A breadcrumb as it may leave: its strings scrubbed as an event's are."""
    scrubbed: dict[str, Any] = _scrub(crumb)
    return scrubbed


def scrub_text(text: str) -> str:
    """A string with numbers masked and Chinese words left out."""
    return _HAN.sub("…", mask_digits(text))


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item) for item in value]
    return value
