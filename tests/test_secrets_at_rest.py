"""Secrets at rest: passwords only as argon2id hashes, API tokens only as SHA-256, found nowhere else in the
database or in Redis; session cookies signed, holding no secret, refused when tampered with, signed with another
key, or signed longer ago than the session's lifetime, which counts from sign-in: using a session never renews it.
(A new password or a deactivated account ending sessions is in tests/test_console_auth.py.)"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import itsdangerous
from click.testing import CliRunner
from sqlalchemy import inspect, select, table, text
from starlette.testclient import TestClient

from dispatch.models import ApiToken, StaffUser
from dispatch.staff import set_password
from hotline.cli import main
from hotline.console.auth import SESSION_COOKIE, SESSION_HOURS, password_fingerprint
from hotline.services import Services
from tests.console_helpers import PASSWORD, make_user, sign_in

DOMAIN = "hotline.example.org"


def stored_text(services: Services) -> list[tuple[str, str]]:
    """Every value of every column of every table, as text, and every key and value in Redis."""
    found = []
    with services.readonly() as session:
        for name in inspect(services.engine).get_table_names():
            for row in session.execute(select(text("*")).select_from(table(name))):
                for value in row:
                    if isinstance(value, bytes):
                        value = value.decode("latin-1")
                    found.append((name, str(value)))
    redis = services.redis
    for key in redis.scan_iter(count=1000):
        kind = redis.type(key).decode()
        values = {"string": lambda k: [redis.get(k)], "hash": lambda k: [*redis.hgetall(k).items()],
                  "list": lambda k: redis.lrange(k, 0, -1), "set": lambda k: redis.smembers(k),
                  "zset": lambda k: redis.zrange(k, 0, -1), "stream": lambda k: redis.xrange(k)}[kind](key)  # fmt: skip
        found += [("redis", f"{key!r} {value!r}") for value in values]
    return found


def test_passwords_and_api_tokens_are_kept_only_as_hashes(
    client: TestClient, services: Services, environ: dict[str, str]
) -> None:
    make_user(services)
    sign_in(client)  # a sign-in, a throttle count, a last login
    made = CliRunner().invoke(main, ["tokens", "create", "--name", "大屏", "--role", "admin"], env=environ)
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/tasks", headers=bearer).status_code == 200  # last use written, and the audit log
    with services.sessions.begin() as session:
        set_password(session, "admin", "a second good password")
    with services.readonly() as session:
        account = session.scalars(select(StaffUser)).one()
        token = session.scalars(select(ApiToken)).one()
    assert account.password_hash.startswith("$argon2id$") and token.last_used_at is not None
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    values = stored_text(services)
    assert len(values) > 20 and any(name == "redis" for name, _ in values)
    # No 12 characters in a row of the secret anywhere (the stored prefix, "hl_" and 8 more, is 11).
    pieces = {secret[i : i + 12] for i in range(len(secret) - 11)}
    found = sorted({(name, piece) for name, value in values for piece in pieces if piece in value})
    assert not found, f"the API token is stored: {found}"
    for password in (PASSWORD, "a second good password"):
        assert not [name for name, value in values if password in value], "a password is stored"


def forge(secret_key: str, session: dict[str, Any], age: float = 0, key: str | None = None) -> str:
    """A session cookie as Starlette's SessionMiddleware signs it (itsdangerous), made `age` seconds ago."""
    payload = base64.b64encode(json.dumps(session).encode())

    class Then(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - age)

    return Then(key or secret_key).sign(payload).decode()


def cookie_session(cookie: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(base64.b64decode(cookie.split(".")[0]))
    return found


def board(client: TestClient, cookie: str) -> int:
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, cookie, domain=DOMAIN)
    return client.get("/board", follow_redirects=False).status_code


def test_a_session_cookie_is_signed_holds_no_secret_and_refuses_tampering(
    client: TestClient, services: Services
) -> None:
    make_user(services)
    make_user(services, "other")
    sign_in(client)
    cookie = client.cookies[SESSION_COOKIE]
    held = cookie_session(cookie)
    with services.readonly() as session:
        admin, other = session.scalars(select(StaffUser).order_by(StaffUser.id)).all()
    assert set(held) == {"uid", "pw", "csrf"} and held["uid"] == admin.id
    assert held["pw"] == password_fingerprint(admin) and held["pw"] not in admin.password_hash  # a hash of the hash
    assert PASSWORD not in json.dumps(held)
    key = str(services.settings.secret_key)
    assert board(client, forge(key, held)) == 200  # the forging here is right: Starlette takes what it signs
    # Another account's id in a cookie signed for the first: refused, as is one signed with another key.
    payload = base64.b64encode(json.dumps({**held, "uid": other.id}).encode()).decode()
    assert board(client, payload + "." + cookie.split(".", 1)[1]) == 303
    assert board(client, forge(key, {**held, "uid": other.id}, key="not the hotline's key, 32 chars long")) == 303
    assert board(client, cookie[:-3] + ("xyz" if not cookie.endswith("xyz") else "abc")) == 303
    assert board(client, cookie) == 200


def test_a_session_ends_its_lifetime_after_sign_in_however_much_it_is_used(
    client: TestClient, services: Services
) -> None:
    make_user(services)
    csrf = sign_in(client)
    cookie = client.cookies[SESSION_COOKIE]
    # Using the session never signs its cookie again (the board asks every few seconds): the cookie's age, which
    # Starlette checks against max_age, is the time since sign-in.
    for response in (client.get("/board"), client.get("/board", params={"part": "1"}), client.get("/tasks"),
                     client.post("/language", data={"language": "en", "csrf_token": csrf}, follow_redirects=False),
                     client.get("/login")):  # fmt: skip
        assert response.status_code in (200, 303) and "set-cookie" not in response.headers, response.request.url
    held, key = cookie_session(cookie), str(services.settings.secret_key)
    lifetime = SESSION_HOURS * 3600
    assert board(client, forge(key, held, age=lifetime - 60)) == 200
    assert board(client, forge(key, held, age=lifetime + 60)) == 303
    assert board(client, cookie) == 200
