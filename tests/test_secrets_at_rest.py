"""Secrets at rest: passwords only as argon2id hashes, API tokens only as SHA-256, found nowhere else in the
database or in Redis; session cookies signed, holding no secret, refused when tampered with, signed with another
key, without the account's session epoch, or signed longer ago than the session's lifetime, which counts from
sign-in: using a session never renews it. API tokens refused from their expiry on; the CLI gives each an expiry
unless told not to; tokens made before expiry existed keep working. (Sign-out, a new password or a deactivated
account ending sessions is in tests/test_console_auth.py.)"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import itsdangerous
import pytest
from alembic import command
from argon2 import extract_parameters, profiles
from click.testing import CliRunner
from sqlalchemy import column, insert, inspect, select, table, text
from starlette.testclient import TestClient

from dispatch.db import alembic_config, make_engine, make_session_factory, upgrade
from dispatch.exceptions import InvalidStaffUser
from dispatch.models import ApiToken, StaffRole, StaffUser, UTCDateTime, utcnow
from dispatch.staff_accounts import PASSWORD_PARAMETERS, hash_password, set_password
from dispatch.tokens import create_token, hash_secret, verify_token
from hotline.cli import main
from hotline.console.auth import SESSION_COOKIE, SESSION_HOURS, password_fingerprint
from hotline.services import Services
from hotline.settings import Settings
from tests.conftest import Clock, reset_database
from tests.console_helpers import PASSWORD, csrf_of, make_user, sign_in

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
        values = {
            "string": lambda k: [redis.get(k)],
            "hash": lambda k: [*redis.hgetall(k).items()],
            "list": lambda k: redis.lrange(k, 0, -1),
            "set": lambda k: redis.smembers(k),
            "zset": lambda k: redis.zrange(k, 0, -1),
            "stream": lambda k: redis.xrange(k),
        }[kind](key)
        found += [("redis", f"{key!r} {value!r}") for value in values]
    return found


def test_passwords_and_api_tokens_are_kept_only_as_hashes(
    client: TestClient, services: Services, environ: dict[str, str]
) -> None:
    make_user(services)
    form = client.get("/login")  # a mistyped password first: a throttle count in Redis (successes keep none)
    wrong = {"username": "admin", "password": PASSWORD + "x", "csrf_token": csrf_of(form.text), "next": "/board"}
    assert client.post("/login", data=wrong, follow_redirects=False).status_code == 401
    sign_in(client)  # a sign-in, a last login
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
    assert set(held) == {"uid", "pw", "ep", "csrf"} and held["uid"] == admin.id and held["ep"] == 0
    assert held["pw"] == password_fingerprint(admin) and held["pw"] not in admin.password_hash  # a hash of the hash
    assert PASSWORD not in json.dumps(held)
    key = str(services.settings.secret_key)
    assert board(client, forge(key, held)) == 200  # the forging here is right: Starlette takes what it signs
    # Another account's id in a cookie signed for the first: refused, as is one signed with another key.
    payload = base64.b64encode(json.dumps({**held, "uid": other.id}).encode()).decode()
    assert board(client, payload + "." + cookie.split(".", 1)[1]) == 303
    assert board(client, forge(key, {**held, "uid": other.id}, key="not the hotline's key, 32 chars long")) == 303
    assert board(client, cookie[:-3] + ("xyz" if not cookie.endswith("xyz") else "abc")) == 303
    # A session without the account's session epoch (as signed before sign-out ended sessions) or with another.
    assert board(client, forge(key, {k: v for k, v in held.items() if k != "ep"})) == 303
    for epoch in (1, "0", None):
        assert board(client, forge(key, {**held, "ep": epoch})) == 303
    assert board(client, cookie) == 200


def test_a_session_ends_its_lifetime_after_sign_in_however_much_it_is_used(
    client: TestClient, services: Services
) -> None:
    make_user(services)
    csrf = sign_in(client)
    cookie = client.cookies[SESSION_COOKIE]
    # Using the session never signs its cookie again (the board asks every few seconds): the cookie's age, which
    # Starlette checks against max_age, is the time since sign-in.
    for response in (
        client.get("/board"),
        client.get("/board", params={"part": "1"}),
        client.get("/tasks"),
        client.post("/language", data={"language": "en", "csrf_token": csrf}, follow_redirects=False),
        client.get("/login"),
    ):
        assert response.status_code in (200, 303) and "set-cookie" not in response.headers, response.request.url
    held, key = cookie_session(cookie), str(services.settings.secret_key)
    lifetime = SESSION_HOURS * 3600
    assert board(client, forge(key, held, age=lifetime - 60)) == 200
    assert board(client, forge(key, held, age=lifetime + 60)) == 303
    assert board(client, cookie) == 200


# ── API tokens expire ────────────────────────────────────────────────────────────────────────────────────────


def api_answer(client: TestClient, secret: str) -> tuple[int, str, str]:
    response = client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {secret}"})
    return response.status_code, response.text, response.headers.get("www-authenticate", "")


def test_a_token_is_refused_from_its_expiry_on_like_an_unknown_one(
    client: TestClient, services: Services, clock: Clock
) -> None:
    made = clock.now
    with services.sessions.begin() as session:
        expiring = create_token(session, name="一天", role=StaffRole.ADMIN, lifetime=timedelta(days=1), now=made)[1]
        forever = create_token(session, name="一直", role=StaffRole.ADMIN, now=made)[1]
        for wrong in (timedelta(0), timedelta(days=3651)):
            with pytest.raises(InvalidStaffUser, match="lifetime"):
                create_token(session, name="错", role=StaffRole.ADMIN, lifetime=wrong, now=made)
    unknown = api_answer(client, "hl_" + "x" * 43)
    assert unknown[0] == 401
    clock.now = made + timedelta(days=1, seconds=-1)
    assert api_answer(client, expiring)[0] == 200
    clock.now = made + timedelta(days=1)
    assert api_answer(client, expiring) == unknown  # the same answer: the caller cannot tell expired from unknown
    clock.now = made + timedelta(days=3650)
    assert api_answer(client, forever)[0] == 200  # a token without an expiry never expires


def test_the_cli_gives_a_token_an_expiry_unless_told_and_lists_expired_ones(
    client: TestClient, services: Services, environ: dict[str, str]
) -> None:
    runner = CliRunner()
    create = ["tokens", "create", "--role", "admin", "--name"]
    secrets = {}
    for name, extra, says in (
        ("default", [], ", expires 20"),
        ("short", ["--expires-days", "1"], ", expires 20"),
        ("forever", ["--never-expires"], ", never expires"),
    ):
        made = runner.invoke(main, [*create, name, *extra], env=environ)
        assert made.exit_code == 0 and says in made.stderr, made.output
        secrets[name] = made.stdout.strip()
    for bad in (["--expires-days", "0"], ["--expires-days", "3651"], ["--expires-days", "5", "--never-expires"]):
        refused = runner.invoke(main, [*create, "bad", *bad], env=environ)
        assert refused.exit_code == 2, (bad, refused.output)
    with services.sessions.begin() as session:
        tokens = {token.name: token for token in session.scalars(select(ApiToken))}
        assert set(tokens) == {"default", "short", "forever"}
        assert tokens["default"].expires_at - tokens["default"].created_at == timedelta(days=90)  # type: ignore[operator]
        assert tokens["short"].expires_at - tokens["short"].created_at == timedelta(days=1)  # type: ignore[operator]
        assert tokens["forever"].expires_at is None
        tokens["short"].expires_at = utcnow() - timedelta(minutes=1)  # a day has passed
    assert api_answer(client, secrets["short"])[0] == 401
    assert api_answer(client, secrets["default"])[0] == 200 and api_answer(client, secrets["forever"])[0] == 200
    listed = {
        line.split("\t")[2]: line.split("\t")
        for line in runner.invoke(main, ["tokens", "list"], env=environ).stdout.splitlines()
    }
    assert listed["short"][-1] == "expired" and listed["short"][-2].startswith("expires 20")
    assert listed["default"][-1] == "live" and listed["default"][-2].startswith("expires 20")
    assert listed["forever"][-2:] == ["no expiry", "live"]


def test_the_expiry_migration_keeps_accounts_and_tokens_and_old_tokens_never_expire(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    if engine.dialect.name != "sqlite":
        reset_database(engine)
    try:
        upgrade(engine, "0010")
        then = datetime(2026, 11, 1, 8, tzinfo=UTC)
        secret = "hl_" + "a" * 43
        account = {
            "username": "admin",
            "display_name": "admin",
            "password_hash": hash_password(PASSWORD),
            "role": "admin",
            "language": "zh-CN",
            "active": True,
        }
        token = {"name": "old", "prefix": secret[:11], "token_hash": hash_secret(secret), "role": "admin"}
        with engine.begin() as conn:  # as stored at 0010, before this migration
            for name, row in (("staff_users", account), ("api_tokens", token)):
                columns = [column(key) for key in row] + [column("created_at", UTCDateTime)]
                conn.execute(insert(table(name, *columns)).values(**row, created_at=then))
        upgrade(engine)
        with make_session_factory(engine)() as session:
            assert session.scalars(select(StaffUser)).one().session_epoch == 0
            assert session.scalars(select(ApiToken)).one().expires_at is None
            assert verify_token(session, secret, then + timedelta(days=3650)) is not None
        command.downgrade(alembic_config(engine), "0010")
        assert "session_epoch" not in {c["name"] for c in inspect(engine).get_columns("staff_users")}
        assert "expires_at" not in {c["name"] for c in inspect(engine).get_columns("api_tokens")}
        upgrade(engine)
    finally:
        engine.dispose()


def test_passwords_are_hashed_with_rfc_9106_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite hashes cheaply in its own process (conftest's `cheap_password_hashes`); the product does not."""
    monkeypatch.undo()
    assert PASSWORD_PARAMETERS == profiles.RFC_9106_LOW_MEMORY
    assert extract_parameters(hash_password("a long enough password")) == profiles.RFC_9106_LOW_MEMORY
