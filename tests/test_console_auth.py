"""Staff sign-in: argon2 hashes, signed cookies, CSRF, throttling, roles, and every console route guarded."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import select
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from dispatch.models import StaffRole, StaffUser
from dispatch.staff_accounts import set_password
from hotline.app import create_app
from hotline.cli import main
from hotline.console.auth import SESSION_COOKIE
from hotline.console.login_throttle import LoginThrottle
from hotline.services import Services
from hotline.settings import Settings
from tests.conftest import PUBLIC_URL
from tests.console_helpers import PASSWORD, csrf_of, make_user, sign_in

# The API document is public, as is usual; a liaison's greeting is fetched by Twilio for <Play> with a signed link
# that expires (404 without one: tests/test_voice_greetings.py).
PUBLIC_PATHS = {"/login", "/healthz", "/readyz", "/api/v1/openapi.json", "/voice/greetings/{greeting_id:id}"}


def test_users_add_stores_an_argon2_hash_and_the_password_signs_in(
    client: TestClient, services: Services, environ: dict[str, str]
) -> None:
    result = CliRunner().invoke(
        main,
        ["users", "add", "Clerk.Li", "--name", "李文员", "--role", "admin", "--password-stdin"],
        input=PASSWORD + "\n",
        env=environ,
    )
    assert result.exit_code == 0, result.output
    with services.readonly() as session:
        user = session.scalars(select(StaffUser)).one()
    assert user.username == "clerk.li" and user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    sign_in(client, "Clerk.Li")
    with services.readonly() as session:
        assert session.scalars(select(StaffUser)).one().last_login_at is not None


def test_users_add_refuses_a_short_password_and_a_clerk_without_a_community(environ: dict[str, str]) -> None:
    runner = CliRunner()
    add = ["users", "add", "a1", "--role", "admin", "--password-stdin"]
    short = runner.invoke(main, add, input="short\n", env=environ)
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    clerk = runner.invoke(
        main, ["users", "add", "c1", "--role", "clerk", "--password-stdin"], input=PASSWORD + "\n", env=environ
    )
    assert clerk.exit_code == 1 and "a clerk needs --community" in clerk.output


def test_a_wrong_password_or_unknown_user_gets_one_answer(client: TestClient, services: Services) -> None:
    make_user(services)
    for username, password in (("admin", "wrong password!"), ("nobody", PASSWORD)):
        form = client.get("/login")
        response = client.post(
            "/login", data={"username": username, "password": password, "csrf_token": csrf_of(form.text)}
        )
        assert response.status_code == 401 and "用户名或密码不对" in response.text
    assert client.get("/board", follow_redirects=False).headers["location"] == "/login?next=/board"


def client_at(settings: Settings, services: Services, address: str) -> TestClient:
    """A browser at `address`: the client address the app sees, as uvicorn reports it."""
    return TestClient(create_app(settings, services), base_url=PUBLIC_URL, client=(address, 50000))


def try_password(client: TestClient, username: str, password: str) -> int:
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}, follow_redirects=False
    )
    return answer.status_code


def test_signing_in_never_counts_toward_the_throttle(client: TestClient, services: Services) -> None:
    make_user(services)
    for _ in range(30):  # three times the limit of failures, in well under 15 minutes
        sign_in(client)
    for _ in range(9):  # and failures are still counted from zero: nine refused, the tenth sign-in passes
        assert try_password(client, "admin", "wrong password!") == 401
    assert try_password(client, "admin", PASSWORD) == 303


def test_ten_wrong_passwords_refuse_that_username_from_that_address_only(
    settings: Settings, services: Services
) -> None:
    make_user(services)
    make_user(services, "clerk")
    with (
        client_at(settings, services, "198.51.100.7") as guesser,
        client_at(settings, services, "203.0.113.5") as staff,
    ):
        for _ in range(10):
            assert try_password(guesser, "admin", "wrong password!") == 401
        refused = guesser.post(
            "/login",
            data={"username": " Admin ", "password": PASSWORD, "csrf_token": csrf_of(guesser.get("/login").text)},
        )
        assert refused.status_code == 429 and "15分钟" in refused.text  # the right password too, however spelt
        assert try_password(staff, "admin", PASSWORD) == 303  # the account itself is not locked out
        assert try_password(guesser, "clerk", PASSWORD) == 303  # nor is the address, for other usernames


def test_fifty_failures_from_one_address_refuse_it_whatever_the_username(
    settings: Settings, services: Services
) -> None:
    make_user(services)
    with (
        client_at(settings, services, "198.51.100.7") as sprayer,
        client_at(settings, services, "203.0.113.5") as staff,
    ):
        token = csrf_of(sprayer.get("/login").text)
        for i in range(50):  # one common password against many usernames: each pair far below its own limit
            answer = sprayer.post(
                "/login", data={"username": f"user{i % 25}", "password": "Password123!", "csrf_token": token}
            )
            assert answer.status_code == 401, i
        assert try_password(sprayer, "admin", PASSWORD) == 429
        assert try_password(staff, "admin", PASSWORD) == 303


def test_sign_in_is_not_throttled_when_redis_is_down(caplog: pytest.LogCaptureFixture) -> None:
    # Nothing listens there; no retries with back-off between attempts (redis-py's default), so twelve are quick.
    throttle = LoginThrottle(Redis(port=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)))
    attempts = [throttle.attempt("admin", "198.51.100.7") for _ in range(12)]
    assert all(attempt.allowed for attempt in attempts)
    throttle.succeeded(attempts[-1])  # nothing to give back, and no error
    assert "login throttle: Redis unavailable (ConnectionError); not throttling" in caplog.text


def test_login_and_logout_need_the_csrf_token(client: TestClient, services: Services) -> None:
    make_user(services)
    client.get("/login")
    assert client.post("/login", data={"username": "admin", "password": PASSWORD}).status_code == 403
    token = sign_in(client)
    assert client.post("/logout").status_code == 403
    assert client.get("/board").status_code == 200  # still signed in
    assert client.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert client.get("/board", follow_redirects=False).status_code == 303


def test_the_session_cookie_is_signed_httponly_samesite_secure_and_expires(
    client: TestClient, services: Services
) -> None:
    make_user(services)
    form = client.get("/login")
    response = client.post(
        "/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith(SESSION_COOKIE) and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" in cookie and "max-age=43200" in cookie
    # A cookie whose signature does not match is no session at all.
    client.cookies.set(SESSION_COOKIE, client.cookies[SESSION_COOKIE][:-2] + "xx", domain="hotline.example.org")
    assert client.get("/board", follow_redirects=False).status_code == 303


def test_a_new_password_or_deactivation_ends_open_sessions(client: TestClient, services: Services) -> None:
    make_user(services)
    sign_in(client)
    with services.sessions.begin() as session:
        set_password(session, "admin", "another good password")
    assert client.get("/board", follow_redirects=False).status_code == 303
    sign_in(client, password="another good password")
    with services.sessions.begin() as session:
        session.scalars(select(StaffUser)).one().active = False
    assert client.get("/board", follow_redirects=False).status_code == 303


def opens_board(client: TestClient, cookie: str) -> int:
    """The board's status with only this session cookie: 200 if it opens the console, 303 if not."""
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, cookie, domain="hotline.example.org")
    return client.get("/board", follow_redirects=False).status_code


def test_signing_out_ends_every_session_of_the_account_even_a_copied_cookie(
    client: TestClient, services: Services
) -> None:
    make_user(services)
    make_user(services, "other")
    sign_in(client)
    elsewhere = client.cookies[SESSION_COOKIE]  # the same account, signed in on another device
    client.cookies.clear()
    sign_in(client, "other")
    other = client.cookies[SESSION_COOKIE]
    client.cookies.clear()
    csrf = sign_in(client)
    copied = client.cookies[SESSION_COOKIE]  # a copy of this device's cookie, taken before signing out
    out = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert opens_board(client, copied) == 303 and opens_board(client, elsewhere) == 303
    assert opens_board(client, other) == 200  # another account's session goes on
    client.cookies.clear()
    for _ in range(3):  # signing in straight after signing out works, every time
        csrf = sign_in(client)
        assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    with services.readonly() as session:
        epochs = {user.username: user.session_epoch for user in session.scalars(select(StaffUser))}
    assert epochs == {"admin": 4, "other": 0}


def test_the_sign_out_button_says_it_signs_out_everywhere(client: TestClient, services: Services) -> None:
    make_user(services)
    sign_in(client)
    assert "退出（所有设备）" in client.get("/board").text


def test_users_sign_out_ends_an_accounts_sessions_from_the_command_line(
    client: TestClient, services: Services, environ: dict[str, str]
) -> None:
    make_user(services)
    sign_in(client)
    cookie = client.cookies[SESSION_COOKIE]
    result = CliRunner().invoke(main, ["users", "sign-out", "Admin"], env=environ)
    assert result.exit_code == 0 and "ended every session of admin" in result.output
    assert opens_board(client, cookie) == 303
    client.cookies.clear()
    sign_in(client)  # the account itself still signs in
    unknown = CliRunner().invoke(main, ["users", "sign-out", "nobody"], env=environ)
    assert unknown.exit_code == 1 and "no account" in unknown.output


def test_next_never_redirects_off_the_site(client: TestClient, services: Services) -> None:
    make_user(services)
    for target in ("https://evil.example", "//evil.example", "/\\evil.example"):
        form = client.get("/login")
        response = client.post(
            "/login",
            data={"username": "admin", "password": PASSWORD, "next": target, "csrf_token": csrf_of(form.text)},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/board"
        client.cookies.clear()


WEBHOOK_PREFIXES = ("/twilio", "/tencent", "/android", "/httpsms")


def console_routes(client: TestClient) -> list[tuple[str, set[str], object]]:
    """Every route of the app a browser can reach, except the webhooks and static files, walked from the app."""
    found = []

    def walk(routes: list[object], prefix: str = "") -> None:
        for route in routes:
            if isinstance(route, Mount):
                if route.path in ("/ivr-audio", "/static"):
                    continue
                walk(list(route.routes), prefix + route.path)
            elif isinstance(route, Route) and not route.path.startswith(WEBHOOK_PREFIXES):
                found.append((prefix + route.path, set(route.methods or ()), route.endpoint))

    walk(list(client.app.routes))  # type: ignore[attr-defined]
    return found


def test_every_console_route_refuses_anonymous_use(client: TestClient) -> None:
    routes = console_routes(client)
    assert {"/board", "/simulator", "/simulator/api/sms"} <= {path for path, _, _ in routes}
    for path, methods, endpoint in routes:
        if path in PUBLIC_PATHS or path == "/":
            continue
        assert getattr(endpoint, "staff_roles", None), f"{path} is not guarded by staff_only"
        url = PUBLIC_URL + re.sub(r"\{[a-z_]+(:[a-z]+)?\}", "1", path.replace("{sid}", "CA" + "0" * 32))
        for method in methods - {"HEAD"}:
            response = client.request(method, url, follow_redirects=False)
            assert response.status_code in (303, 401), (method, path, response.status_code)
            if response.status_code == 303:
                assert response.headers["location"].startswith("/login")
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_a_grid_leader_sees_only_their_grid(client: TestClient, services: Services) -> None:
    from dispatch import register

    with services.sessions.begin() as session:
        register.add_liaison(session, name="张敏", phone="+8613912345678", region="CN")
        home = register.Address("幸福里社区", "1号楼", "1单元", "101")
        away = register.Address("幸福里社区", "9号楼", "1单元", "101")
        mine = register.add_resident(
            session, name="梁阿姨", phones=["13800138000"], liaison_phone="+8613912345678", address=home, region="CN"
        )
        other = register.add_resident(session, name="王大爷", phones=["13800138001"], address=away, region="CN")
        assert mine.household.community is not None
        mine.household.grid = register.find_or_create_grid(session, mine.household.community, "第1网格")
        other.household.grid = register.find_or_create_grid(session, mine.household.community, "第2网格")
    make_user(services, "leader1", StaffRole.GRID_LEADER, grid="第1网格")
    sign_in(client, "leader1")
    people = client.get("/simulator/api/people", headers={"accept": "application/json"}).json()["people"]
    assert {p["name"] for p in people} == {"张敏", "梁阿姨"}
    assert client.get("/simulator/api/phone", params={"phone": "+8613800138000"}).status_code == 200
    # Changing the number in the URL to another grid's resident reads nothing.
    refused = client.get("/simulator/api/phone", params={"phone": "+8613800138001"})
    assert refused.status_code == 404 and "thread" not in refused.json()


def test_the_access_log_keeps_no_query_string() -> None:
    import logging

    from hotline.logs import DropQueryStrings

    args = ("127.0.0.1:5", "GET", "/simulator/api/phone?phone=%2B8613800138000", "1.1", 200)
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None)
    assert DropQueryStrings().filter(record)
    assert "8613800138000" not in record.getMessage() and "/simulator/api/phone?…" in record.getMessage()
