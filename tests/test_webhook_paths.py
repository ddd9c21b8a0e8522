"""One module holds the webhook paths: the router serves them, and every callback URL handed to Twilio names one."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.routing import Match, Route
from starlette.testclient import TestClient

from dispatch import outbox
from hotline.jobs.checkins import send_batch
from hotline.jobs.sends import deliver_sms
from hotline.services import Services
from hotline.webhooks import paths
from tests.conftest import LIAISON_PHONE, PUBLIC_URL, local_outbox


def served(client: TestClient, url: str) -> bool:
    """True if a webhook route of the app (not the console's catch-all) takes a POST to this URL's path."""
    parts = urlsplit(url)
    scope = {"type": "http", "method": "POST", "path": parts.path, "query_string": parts.query.encode()}
    routes = [r for r in client.app.routes if isinstance(r, Route)]  # type: ignore[attr-defined]
    return any(route.matches(scope)[0] == Match.FULL for route in routes)


def test_every_callback_url_handed_to_the_gateway_is_a_route_the_app_serves(
    client: TestClient, services: Services
) -> None:
    with services.sessions.begin() as session:
        rows = [
            outbox.queue_sms(session, dedupe_key=f"paths:{i}", to_phone=LIAISON_PHONE, body="请回电", kind=kind)
            for i, kind in enumerate(("sms", "call", "checkin", "sms"))
        ]
        session.flush()
        ids = [row.id for row in rows if row is not None]
    assert len(ids) == 4
    for outbound_id in ids[:3]:  # an SMS, an automated call, a check-in call: one by one
        assert deliver_sms(services, outbound_id)
    send_batch(ids[3:])  # a check-in SMS: in a batch, handed over together
    sent = local_outbox(services)
    urls = [entry.status_callback for entry in sent] + [entry.body for entry in sent if entry.kind == "call"]
    assert len([u for u in urls if u]) == 5  # two SMS reports, a check-in call's report, two calls' TwiML
    for url in filter(None, urls):
        assert url.startswith(PUBLIC_URL), url
        assert served(client, url), url


def test_the_router_serves_every_webhook_path_and_no_other(client: TestClient) -> None:
    named = {value for key, value in vars(paths).items() if key.isupper()}
    assert len(named) == 14  # Twilio's twelve, the Android phones' one, and httpSMS's one
    assert all(served(client, PUBLIC_URL + path) for path in named)
    webhook_routes = {
        r.path
        for r in client.app.routes  # type: ignore[attr-defined]
        if isinstance(r, Route) and r.path.startswith(("/twilio", "/android", "/httpsms"))
    }
    assert webhook_routes == named
