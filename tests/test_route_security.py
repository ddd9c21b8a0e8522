"""Every route of the real app against its rule in `tests/route_rules.py`: a route without a rule fails here.

Twilio's webhooks refuse a missing or wrong signature and store nothing; every other route but the deliberate
public ones refuses a request without credentials; the simulator is refused with the Twilio gateway; each role
passes exactly the guards its rule names; unsafe console requests without the session's CSRF token change nothing.
(`tests/test_route_scope.py` checks what each principal may see: grid leaders, community tokens.)
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from dispatch import register
from dispatch.models import StaffRole
from dispatch.tokens import create_token
from hotline.app import STATIC_DIR, create_app
from hotline.services import Services
from hotline.settings import Settings
from hotline.webhooks.signatures import SIGNATURE_HEADER
from tests.conftest import PUBLIC_URL, TEST_AUTH_TOKEN
from tests.console_helpers import make_user, sign_in
from tests.route_rules import MISSING, RULES, World, app_routes, build_world, fill, row_counts, send

DELIBERATELY_PUBLIC = {
    "GET /healthz",
    "GET /readyz",
    "GET /",
    "GET /login",
    "POST /login",
    "GET /api/v1/openapi.json",
    "MOUNT /static",
    "MOUNT /ivr-audio",
    "GET /voice/greetings/{greeting_id:id}",
}
GUARDED = ("console", "simulator", "api", "token")
BEARER = ("api", "token")  # a bearer token's routes: the API, and /metrics beside it
ROLE_REFUSED = {"console": "your role may not do this", "simulator": "your role may not do this", "api": "may not do"}


@pytest.fixture
def world(client: TestClient, services: Services) -> World:
    return build_world(client, services)


def test_every_route_has_a_rule_and_every_rule_a_route(client: TestClient) -> None:
    routes = app_routes(client.app)
    assert sorted(set(routes) - set(RULES)) == [], "a route without a rule: add it to tests/route_rules.py"
    assert sorted(set(RULES) - set(routes)) == [], "a rule for a route that is gone"
    assert {key for key, rule in RULES.items() if rule.kind in ("public", "static")} == DELIBERATELY_PUBLIC
    for key, endpoint in routes.items():
        rule = RULES[key]
        if rule.kind in GUARDED:  # the guard is on the endpoint, naming the rule's roles (checked by requests below)
            assert set(getattr(endpoint, "staff_roles", ())) == set(rule.roles), key


def test_the_public_routes_answer_anyone_and_say_nothing_private(client: TestClient) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
    assert set(ready.json()["checks"]) == {"database", "redis", "migrations", "queues", "inbound"}
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    assert client.get("/login").status_code == 200
    assert client.get("/api/v1/openapi.json").json()["openapi"].startswith("3.1")
    static = sorted(path.name for path in STATIC_DIR.iterdir())[0]
    assert client.get(f"/static/{static}").status_code == 200
    # A mounted folder serves its own files only, however the path is spelt.
    for path in ("/static/%2e%2e/auth.py", "/static/..%2fauth.py", "/ivr-audio/%2e%2e/voice_hotline.toml"):
        assert client.get(path).status_code == 404, path


def test_twilio_webhooks_refuse_a_missing_or_wrong_signature_and_store_nothing(
    client: TestClient, services: Services, world: World
) -> None:
    target = world.targets["mine"]
    stranger = RequestValidator("not our token, but one of the right shape")
    webhooks = [(key, rule) for key, rule in RULES.items() if rule.kind == "twilio"]
    assert len(webhooks) == 12
    for key, rule in webhooks:
        _, url, params = fill(key, rule, target)
        assert params is not None
        path, _, query = url.partition("?")
        ours = services.signature.sign(path, params, query)
        tampered = {**params, "From": "+8613700000002"}  # signed for one sender, sent as another
        attempts = [
            ("no signature", params, {}),
            ("empty signature", params, {SIGNATURE_HEADER: ""}),
            ("another token", params, {SIGNATURE_HEADER: stranger.compute_signature(PUBLIC_URL + url, params)}),
            ("other fields", tampered, {SIGNATURE_HEADER: ours}),
            ("another path", params, {SIGNATURE_HEADER: services.signature.sign(path + "x", params, query)}),
            # The query string is signed too: it carries the step of a call and the id of a message.
            ("another query", params, {SIGNATURE_HEADER: services.signature.sign(path, params, query + "0")}),
            (
                "no query" if query else "a query",
                params,
                {SIGNATURE_HEADER: services.signature.sign(path, params, "" if query else "o=1")},
            ),
            (
                "http, not https",
                params,
                {
                    SIGNATURE_HEADER: RequestValidator(TEST_AUTH_TOKEN).compute_signature(
                        "http://hotline.example.org" + url, params
                    )
                },
            ),
        ]
        before = row_counts(services)
        for name, fields, headers in attempts:
            response = client.post(url, data=fields, headers=headers)
            assert response.status_code == 403, (key, name, response.status_code)
            assert not any(word in response.text for word in target.words), (key, name)
        assert row_counts(services) == before, f"{key} stored something for a request it refused"
        # The same request signed as Twilio signs it gets past the check: the 403s above were the check's.
        assert client.post(url, data=params, headers={SIGNATURE_HEADER: ours}).status_code != 403, key


def test_every_other_route_refuses_a_request_without_credentials(
    client: TestClient, services: Services, world: World
) -> None:
    target = world.targets["mine"]
    before = row_counts(services)
    checked = 0
    for key, rule in RULES.items():
        if rule.kind in ("public", "static"):
            continue
        response = send(client, key, rule, target)
        method, url, _ = fill(key, rule, target)
        if rule.kind in ("twilio", "tencent", "android", "httpsms"):  # no signature, secret or token
            assert response.status_code == 403, key
        elif rule.kind in BEARER:
            assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer"), key
        elif method == "GET":  # a page: to sign-in, and back here afterwards
            assert response.status_code == 303, key
            assert response.headers["location"] == "/login?next=" + url.split("?")[0], key
        else:
            assert response.status_code == 401 and response.json() == {"error": "sign in first"}, key
        assert not any(word in response.text for word in target.words), key
        checked += 1
    assert checked == len(RULES) - len(DELIBERATELY_PUBLIC)
    assert row_counts(services) == before


def test_the_simulator_is_refused_with_the_twilio_gateway(settings: Settings, services: Services, world: World) -> None:
    twilio = replace(settings, gateway="twilio")
    with TestClient(create_app(twilio, replace(services, settings=twilio)), base_url=PUBLIC_URL) as client:
        routes = [(key, rule) for key, rule in RULES.items() if rule.kind == "simulator"]
        assert len(routes) == 8
        before = row_counts(services)
        for key, rule in routes:  # anonymous, then signed in with and without the CSRF token
            assert send(client, key, rule, world.targets["mine"]).status_code == 404, key
        assert row_counts(services) == before
        make_user(services)
        csrf = sign_in(client)
        before = row_counts(services)
        for key, rule in routes:
            for headers in ({"X-CSRF-Token": csrf}, {}):
                response = send(client, key, rule, world.targets["mine"], **headers)
                assert response.status_code == 404, (key, response.status_code)
        assert row_counts(services) == before
        assert "/simulator" not in client.get("/board").text


def test_each_role_passes_exactly_the_guards_its_rule_names(client: TestClient, services: Services) -> None:
    with services.sessions.begin() as session:  # a community and a grid for the clerk's and leader's scope
        resident = register.add_resident(
            session,
            name="梁阿姨",
            phones=["13800138000"],
            region="CN",
            address=register.Address("幸福里社区", "1号楼", "1单元", "101"),
        )
        assert resident.household.community is not None
        register.find_or_create_grid(session, resident.household.community, "第1网格")
    make_user(services, "admin1", StaffRole.ADMIN)
    make_user(services, "clerk1", StaffRole.CLERK, community="幸福里社区")
    make_user(services, "leader1", StaffRole.GRID_LEADER, grid="第1网格")
    routes = sorted(
        ((k, r) for k, r in RULES.items() if r.kind in ("console", "simulator")),
        key=lambda item: item[0] == "POST /logout",
    )  # signing out last
    for username, role in (
        ("admin1", StaffRole.ADMIN),
        ("clerk1", StaffRole.CLERK),
        ("leader1", StaffRole.GRID_LEADER),
    ):
        client.cookies.clear()
        csrf = sign_in(client, username)
        for key, rule in routes:
            response = send(client, key, rule, MISSING, **{"X-CSRF-Token": csrf})
            refused = response.status_code == 403 and "your role may not do this" in response.text
            assert refused == (role not in rule.roles), (username, key, response.status_code, response.text[:200])
            assert response.status_code != 401, (username, key)
    tokens = {}
    with services.sessions.begin() as session:
        tokens[StaffRole.ADMIN] = create_token(session, name="a", role=StaffRole.ADMIN)[1]
        tokens[StaffRole.CLERK] = create_token(session, name="c", role=StaffRole.CLERK, community="幸福里社区")[1]
        tokens[StaffRole.GRID_LEADER] = create_token(session, name="g", role=StaffRole.GRID_LEADER, grid="第1网格")[1]
    for role, secret in tokens.items():
        for key, rule in RULES.items():
            if rule.kind not in BEARER:
                continue
            response = send(client, key, rule, MISSING, Authorization=f"Bearer {secret}")
            refused = response.status_code == 403 and "may not do this" in response.json()["error"]
            assert refused == (role not in rule.roles), (role, key, response.status_code, response.text[:200])
            assert response.status_code != 401, (role, key)


def test_unsafe_console_requests_without_the_csrf_token_change_nothing(
    client: TestClient, services: Services, world: World
) -> None:
    make_user(services)
    csrf = sign_in(client)
    before = row_counts(services)
    unsafe = [(k, r) for k, r in RULES.items() if r.kind in ("console", "simulator") and not k.startswith("GET ")]
    assert len(unsafe) == 55
    for key, rule in unsafe:
        for headers in ({}, {"X-CSRF-Token": csrf[:-2] + "xx"}, {"X-CSRF-Token": ""}):
            response = send(client, key, rule, world.targets["mine"], **headers)
            assert response.status_code == 403 and "CSRF" in response.text, (key, headers, response.status_code)
        if rule.kind == "console":  # the token in the form, wrong
            _, url, body = fill(key, rule, world.targets["mine"])
            wrong = client.post(url, data={**(body or {}), "csrf_token": "x" * 32}, follow_redirects=False)
            assert wrong.status_code == 403 and "CSRF" in wrong.text, key
    assert row_counts(services) == before
    assert client.get("/board").status_code == 200, "still signed in: /logout refused too"
    # Sign-in itself needs the token of the page it was sent from.
    client.cookies.clear()
    client.get("/login")
    signed = client.post("/login", data={"username": "admin", "password": "correct horse battery"})
    assert signed.status_code == 403 and client.get("/board", follow_redirects=False).status_code == 303
