"""Every answer of every route carries the browser's rules (`hotline.security_headers`): a Content-Security-Policy
without inline script or style, no framing, no sniffing, a Referrer-Policy. Pages, webhooks' TwiML, the API's
JSON, static files, and refusals (401, 403, 404, 405) alike. The routes are the app's own route table, checked
against `tests/route_rules.py`, so a new route is covered as soon as it has its rule there."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from hotline.app import STATIC_DIR, create_app
from hotline.services import Services
from hotline.settings import Settings
from hotline.webhooks.signatures import SIGNATURE_HEADER
from tests.conftest import PUBLIC_URL
from tests.console_helpers import make_user, sign_in
from tests.route_rules import RULES, Rule, Target, World, app_routes, build_world, fill, send


def assert_security_headers(answer: Any, what: str) -> None:
    policy = answer.headers.get("content-security-policy", "")
    directives = {name: values for name, *values in (part.split() for part in policy.split(";") if part.strip())}
    assert directives.get("script-src") == ["'self'"], (what, policy)
    assert directives.get("style-src") == ["'self'"], (what, policy)
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy, (what, policy)
    assert directives.get("object-src") == ["'none'"], (what, policy)
    assert directives.get("base-uri") in (["'none'"], ["'self'"]), (what, policy)
    assert directives.get("form-action") == ["'self'"], (what, policy)
    assert directives.get("frame-ancestors") == ["'none'"], (what, policy)
    assert directives.get("media-src") == ["'self'"], (what, policy)
    assert answer.headers.get("x-frame-options") == "DENY", what
    assert answer.headers.get("x-content-type-options") == "nosniff", what
    assert answer.headers.get("referrer-policy") in ("same-origin", "no-referrer"), what


def credentials(key: str, rule: Rule, target: Target, world: World, services: Services, csrf: str) -> dict[str, str]:
    """What gets a request past the route's guard: a signed-in session's CSRF token, a token, a signature."""
    if rule.kind in ("console", "simulator"):
        return {"X-CSRF-Token": csrf}
    if rule.kind in ("api", "token"):
        return {"Authorization": f"Bearer {world.tokens['admin']}"}
    if rule.kind == "twilio":
        _, url, params = fill(key, rule, target)
        path, _, query = url.partition("?")
        return {SIGNATURE_HEADER: services.signature.sign(path, params or {}, query)}
    return {}


def test_every_answer_of_every_route_carries_the_security_headers(client: TestClient, services: Services) -> None:
    world = build_world(client, services)
    target = world.targets["mine"]
    routes = app_routes(client.app)
    assert set(routes) == set(RULES), "a route without a rule (or a rule without a route): see tests/route_rules.py"
    statuses: Counter[int] = Counter()

    def check(answer: Any, what: str) -> None:
        statuses[answer.status_code] += 1
        assert_security_headers(answer, f"{what} -> {answer.status_code}")

    static = sorted(path.name for path in STATIC_DIR.iterdir())
    for key in routes:  # anonymous first: refusals carry them too
        if key.startswith("MOUNT "):
            continue
        check(send(client, key, RULES[key], target), f"anonymous {key}")
        method, url, _ = fill(key, RULES[key], target)
        if method != "GET":  # the method the route does not allow
            check(client.get(url, follow_redirects=False), f"GET on {key}")

    make_user(services)
    csrf = sign_in(client)
    # Signing out last: every console route before it answers as signed-in staff.
    for key in sorted(routes, key=lambda item: item == "POST /logout"):
        rule = RULES[key]
        if key == "MOUNT /static":
            for name in static:
                check(client.get(f"/static/{name}"), f"/static/{name}")
            check(client.get("/static/missing.js"), "/static/missing.js")
        elif key == "MOUNT /ivr-audio":
            check(client.get("/ivr-audio/missing.mp3"), "/ivr-audio/missing.mp3")
        else:
            check(send(client, key, rule, target, **credentials(key, rule, target, world, services, csrf)), key)
    check(client.get("/no/such/page"), "an unknown path")
    check(client.get("/api/v1/no/such/thing"), "an unknown API path")

    assert statuses[200] >= 40 and statuses[404] >= 3, statuses  # the routes were reached, not only refused
    assert {401, 403, 405} <= set(statuses), statuses
    assert {key.split()[0] for key in routes} >= {"GET", "POST", "PATCH", "PUT", "MOUNT"}


def test_a_page_s_scripts_and_styles_are_files_and_a_data_island_is_only_data(
    client: TestClient, services: Services
) -> None:
    """What the policy allows is what the pages use: every <script> has a src under /static (or is a JSON data
    island, which browsers never run), and no page carries an inline event handler or a style attribute."""
    make_user(services)
    sign_in(client)
    for path in (
        "/board",
        "/tasks",
        "/register",
        "/calls",
        "/notices",
        "/notices/new",
        "/reports",
        "/ivr",
        "/channels",
        "/audit",
        "/simulator",
        "/login",
    ):
        html = client.get(path).text
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert 'src="/static/' in tag or 'type="application/json"' in tag, (path, tag)
        assert not re.search(r"\son[a-z]+\s*=", html), path
        assert " style=" not in html and "<style" not in html, path


def test_a_500_from_a_bug_carries_them_too(settings: Settings, services: Services) -> None:
    """Starlette's own error handler answers a bug's 500 outside every middleware in its list: ours is outside it."""
    app = create_app(settings, services)

    async def broken(request: Request) -> Response:
        raise RuntimeError("a bug")

    app.router.routes.insert(0, Route("/a-bug", broken))
    with TestClient(app, base_url=PUBLIC_URL, raise_server_exceptions=False) as client:
        answer = client.get("/a-bug")
    assert answer.status_code == 500
    assert_security_headers(answer, "a 500")
