"""Web processes are stateless: two `hotline serve` behind real nginx, running deploy/nginx/hotline.conf as the
deployment guide tells operators to, with one redis-server, one database and one `hotline worker`.

Requests go to nginx over TLS (SNI and Host hotline.example.org, the certificate verified) from 127.0.0.2, an
address uvicorn does not trust. Which web process served a request is read from the processes' own access logs.
The tests share one stack and run in file order; the last two kill or misconfigure a web process."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from redis import Redis
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session

from dispatch import register
from dispatch.models import InboundMessage, LocalOutboxEntry, StaffRole, StaffUser, Task
from dispatch.staff_accounts import add_user
from hotline.webhooks.signatures import SIGNATURE_HEADER, TwilioSignatureCheck
from tests.conftest import TEST_DATABASE_URL, reset_database
from tests.console_helpers import PASSWORD, csrf_of
from tests.proxy_helpers import (
    AUTH_TOKEN,
    CLIENT_ADDRESS,
    HOST,
    NGINX,
    PUBLIC_URL,
    Stack,
    access_log,
    https_client,
    served,
    wait_until,
)

pytestmark = pytest.mark.skipif(
    not Path(NGINX).exists() and not os.environ.get("CI"),
    reason="Debian's nginx is not installed here; scripts/test installs it, and CI always runs this test",
)
LIAISON = "+8613912345678"
RESIDENTS = [f"+86138001380{i:02d}" for i in range(10)]
HOTLINE_NUMBER = "+8657112345678"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = TEST_DATABASE_URL or f"sqlite:///{tmp_path_factory.mktemp('proxy-db') / 'hotline.sqlite3'}"
    made = create_engine(url)
    if made.dialect.name != "sqlite":
        reset_database(made)
    yield made
    made.dispose()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("proxy"), engine.url.render_as_string(hide_password=False))
    try:
        running.start()  # redis-server, `hotline db upgrade`
        with Session(engine) as session, session.begin():
            register.add_liaison(session, name="张敏", phone=LIAISON, region="CN")
            for i, phone in enumerate(RESIDENTS):
                register.add_resident(session, name=f"梁阿姨{i}", phones=[phone], liaison_phone=LIAISON, region="CN")
            add_user(session, username="admin", display_name="admin", password=PASSWORD, role=StaffRole.ADMIN)
        running.start_processes()
        yield running
    finally:
        running.stop()


def sms(phone: str, signed_for: str = PUBLIC_URL) -> tuple[dict[str, str], dict[str, str]]:
    """An inbound SMS's form, and its headers signed as Twilio signs them: for `signed_for` + /twilio/sms."""
    form = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": "AC" + "1" * 32,
        "From": phone,
        "To": HOTLINE_NUMBER,
        "Body": "想买点菜",
        "NumMedia": "0",
    }
    return form, {SIGNATURE_HEADER: TwilioSignatureCheck(AUTH_TOKEN, signed_for).sign("/twilio/sms", form)}


def post_sms(client: httpx.Client, phone: str, signed_for: str = PUBLIC_URL) -> tuple[str, int]:
    form, headers = sms(phone, signed_for)
    return form["MessageSid"], client.post("/twilio/sms", data=form, headers=headers).status_code


def webhook_lines(stack: Stack, index: int, status: int) -> int:
    return sum(
        1 for _, m, path, code in access_log(stack.webs[index]) if (m, path, code) == ("POST", "/twilio/sms", status)
    )


def wait_for_tasks(engine: Engine, sids: list[str], timeout: float = 60) -> None:
    """Each message stored once, and the worker made its task, its offer to the liaison and its receipt."""

    def done() -> bool:
        with Session(engine) as session:
            rows = session.execute(
                select(InboundMessage.id, InboundMessage.from_phone).where(InboundMessage.provider_sid.in_(sids))
            ).all()
            if len(rows) != len(sids):
                return False
            ids, phones = [r.id for r in rows], [r.from_phone for r in rows]
            tasks = session.scalar(select(func.count()).select_from(Task).where(Task.source_message_id.in_(ids)))
            receipts = session.scalar(
                select(func.count()).select_from(LocalOutboxEntry).where(LocalOutboxEntry.to_phone.in_(phones))
            )
            return tasks == len(sids) and receipts == len(sids)

    wait_until(done, timeout, f"{len(sids)} messages turned into tasks and receipts by the worker", interval=0.2)


def test_signed_sms_through_nginx_reach_both_processes_are_stored_once_and_become_tasks(
    stack: Stack, engine: Engine
) -> None:
    before = [webhook_lines(stack, i, 200) for i in (0, 1)]
    messages = [sms(phone) for phone in RESIDENTS[:8]]
    with stack.client() as client:
        answers = [client.post("/twilio/sms", data=form, headers=headers).status_code for form, headers in messages]
        # Twilio's retries of the first message (same SID, same signature): one lands on each web process.
        retries = [client.post("/twilio/sms", data=messages[0][0], headers=messages[0][1]).status_code for _ in "ab"]
    assert answers == [200] * 8 and retries == [200, 200]
    wait_until(lambda: sum(webhook_lines(stack, i, 200) for i in (0, 1)) - sum(before) == 10, 30, "10 access lines")
    per_process = [webhook_lines(stack, i, 200) - before[i] for i in (0, 1)]
    assert per_process == [5, 5], f"nginx should have shared the webhooks between the processes: {per_process}"

    sids = [form["MessageSid"] for form, _ in messages]
    wait_for_tasks(engine, sids)
    with Session(engine) as session:
        stored = session.scalars(select(InboundMessage.provider_sid).where(InboundMessage.provider_sid.in_(sids)))
        assert sorted(stored) == sorted(sids)  # each exactly once, the retried one too
        offers = session.scalar(
            select(func.count()).select_from(LocalOutboxEntry).where(LocalOutboxEntry.to_phone == LIAISON)
        )
        assert offers is not None and offers >= 8  # the liaison was offered every task, through the local outbox


def test_a_bad_signature_is_refused_through_nginx(stack: Stack, engine: Engine) -> None:
    form, _ = sms(RESIDENTS[0])
    with stack.client() as client:
        answers = [
            client.post("/twilio/sms", data=form, headers={SIGNATURE_HEADER: "bm90IGEgc2lnbmF0dXJl"}).status_code,
            client.post("/twilio/sms", data=form).status_code,  # no signature at all
        ]
    assert answers == [403, 403]
    with Session(engine) as session:
        assert (
            session.scalar(select(InboundMessage.id).where(InboundMessage.provider_sid == form["MessageSid"])) is None
        )


def test_a_console_session_opens_every_process_and_a_form_from_one_posts_to_the_other(
    stack: Stack, engine: Engine
) -> None:
    with stack.client() as client:
        anonymous = client.get("/board", follow_redirects=False)
        assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=/board"

        form, login_by = served(stack.webs, lambda: client.get("/login"))
        posted, signed_in_by = served(
            stack.webs,
            lambda: client.post(
                "/login",
                data={"username": "admin", "password": PASSWORD, "csrf_token": csrf_of(form.text), "next": "/board"},
            ),
        )
        assert posted.status_code == 303 and posted.headers["location"] == "/board", posted.text
        assert login_by != signed_in_by, "the sign-in form and its POST should be served by different processes"
        cookie = posted.headers["set-cookie"]
        assert "hotline_session=" in cookie and "secure" in cookie.lower() and "httponly" in cookie.lower(), cookie

        boards = [served(stack.webs, lambda: client.get("/board", follow_redirects=False)) for _ in range(6)]
        assert [page.status_code for page, _ in boards] == [200] * 6  # signed in on each, no redirect to /login
        assert all('name="csrf-token"' in page.text and "/logout" in page.text for page, _ in boards)
        assert [sum(by[0] for _, by in boards), sum(by[1] for _, by in boards)] == [3, 3]

        # A CSRF-protected POST: the token is read from a page one process served, the POST lands on the other.
        pairs = []
        for language in ("en", "zh-CN", "en"):
            page, page_by = served(stack.webs, lambda: client.get("/board"))
            data = {"language": language, "next": "/board", "csrf_token": csrf_of(page.text)}
            answer, post_by = served(stack.webs, lambda d=data: client.post("/language", data=d))  # type: ignore[misc]
            assert answer.status_code == 303, answer.text
            pairs.append((page_by, post_by))
        assert any(page_by != post_by for page_by, post_by in pairs), pairs
        refused = client.post("/language", data={"language": "zh-CN", "next": "/board"})  # no token
        assert refused.status_code == 403
    with Session(engine) as session:
        assert session.scalar(select(StaffUser.language).where(StaffUser.username == "admin")) == "en"


def test_the_web_processes_see_the_original_client_through_nginx(stack: Stack) -> None:
    """uvicorn runs with proxy headers and trusts 127.0.0.1, nginx's address: it logs (and the sign-in throttle
    counts) the client nginx saw, 127.0.0.2, not nginx; an X-Forwarded-For the client forged itself is ignored.

    Nothing the app answers depends on the forwarded scheme or Host: signatures are checked against
    HOTLINE_PUBLIC_URL, the cookie is Secure because HOTLINE_PUBLIC_URL is https, and redirects are bare paths.
    So X-Forwarded-Proto and Host are not asserted; the last test shows what HOTLINE_PUBLIC_URL decides."""
    before = [len(access_log(web)) for web in stack.webs]
    with stack.client() as client:
        for _ in range(4):
            assert client.get("/healthz", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 200
    wait_until(lambda: sum(len(access_log(w)) for w in stack.webs) - sum(before) >= 4, 30, "4 access lines")
    clients = {line[0] for web, n in zip(stack.webs, before, strict=True) for line in access_log(web)[n:]}
    assert {address.rsplit(":", 1)[0] for address in clients} == {CLIENT_ADDRESS}, clients

    # Plain HTTP is sent to https://, to the public host whatever port it came in on.
    assert stack.nginx is not None
    with httpx.Client(timeout=10) as plain:
        moved = plain.get(f"http://127.0.0.1:{stack.nginx.http_port}/board?x=1", headers={"Host": HOST})
    assert moved.status_code == 301 and moved.headers["location"] == f"https://{HOST}/board?x=1"


def test_answers_over_tls_carry_hsts_and_the_hotlines_own_security_headers(stack: Stack) -> None:
    with stack.client() as client:
        answers = [client.get("/healthz"), client.get("/no/such/page"), client.post("/twilio/sms", data={})]
    assert [answer.status_code for answer in answers] == [200, 404, 403]
    for answer in answers:  # `always`: on errors too
        assert answer.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]  # through nginx unchanged


def login_status(client: httpx.Client, username: str, password: str, forwarded_for: str) -> int:
    """One sign-in through the form, its X-Forwarded-For chosen by the client; returns the POST's status.

    The session cookie is sent by hand: it is Secure (HOTLINE_PUBLIC_URL is https), and a client talking plain
    HTTP straight to a web process would not send it back otherwise."""
    form = client.get("/login", headers={"X-Forwarded-For": forwarded_for})
    headers = {"X-Forwarded-For": forwarded_for}
    if "set-cookie" in form.headers:  # a new session; else the one the client holds and sends (over https)
        headers["Cookie"] = form.headers["set-cookie"].split(";", 1)[0]
    answer = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf_of(form.text)}, headers=headers
    )
    return answer.status_code


def add_staff(engine: Engine, username: str) -> None:
    with Session(engine) as session, session.begin():
        add_user(session, username=username, display_name=username, password=PASSWORD, role=StaffRole.ADMIN)


def throttle_addresses(stack: Stack) -> set[str]:
    """The addresses the sign-in throttle is counting, read from Redis."""
    assert stack.redis is not None
    with Redis.from_url(stack.redis.url) as redis:
        return {key.decode().split(":")[2] for key in redis.scan_iter("hotline-login:addr:*")}


def test_the_sign_in_throttle_counts_the_client_nginx_saw_whatever_x_forwarded_for_it_sends(
    stack: Stack, engine: Engine
) -> None:
    """nginx's address is trusted, so the throttle counts the address nginx forwards, 127.0.0.2; a client that
    makes up an X-Forwarded-For for each guess is still counted as itself (nginx appends the address it saw)."""
    assert stack.nginx is not None
    add_staff(engine, "guessed")
    with stack.client() as guesser:
        statuses = [login_status(guesser, "guessed", "wrong password!", f"203.0.113.{i}") for i in range(11)]
    assert statuses == [401] * 10 + [429]
    assert throttle_addresses(stack) == {CLIENT_ADDRESS}  # not nginx's 127.0.0.1, nor any address made up
    with https_client(stack.nginx.https_port, stack.cert, source="127.0.0.3") as elsewhere:
        assert login_status(elsewhere, "guessed", PASSWORD, "203.0.113.99") == 303  # the account is not locked


def test_a_client_that_is_not_a_trusted_proxy_cannot_dodge_the_throttle_with_x_forwarded_for(
    stack: Stack, engine: Engine
) -> None:
    """Straight to a web process: from 127.0.0.2 (never trusted), and from 127.0.0.1 to a web process started
    without FORWARDED_ALLOW_IPS (nobody trusted: uvicorn's own default would trust a local client)."""
    add_staff(engine, "direct")
    untrusted = httpx.Client(
        base_url=f"http://127.0.0.1:{stack.ports[0]}",
        timeout=15,
        transport=httpx.HTTPTransport(local_address=CLIENT_ADDRESS),
    )
    with untrusted:
        statuses = [login_status(untrusted, "direct", "wrong password!", f"198.51.100.{i}") for i in range(11)]
    assert statuses == [401] * 10 + [429]

    trusted = stack.env.pop("FORWARDED_ALLOW_IPS")  # unset, not empty: what a machine without the setting runs
    stack.restart_web(1)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{stack.ports[1]}", timeout=15) as local:
            statuses = [login_status(local, "direct", "wrong password!", f"192.0.2.{i}") for i in range(11)]
        assert statuses == [401] * 10 + [429]
        assert throttle_addresses(stack) >= {CLIENT_ADDRESS, "127.0.0.1"}
        assert not {address for address in throttle_addresses(stack) if address.startswith(("198.", "192."))}
    finally:
        stack.env["FORWARDED_ALLOW_IPS"] = trusted
        stack.restart_web(1)


def test_a_killed_web_process_is_skipped_then_serves_again_once_restarted(stack: Stack, engine: Engine) -> None:
    assert stack.nginx is not None
    stack.webs[0].kill()  # SIGKILL
    survivor = webhook_lines(stack, 1, 200)
    with stack.client() as client:
        answers = [post_sms(client, phone) for phone in RESIDENTS[8:10]]
        health = [client.get("/healthz").status_code for _ in range(4)]
        assert [status for _, status in answers] == [200, 200] and health == [200] * 4
        assert webhook_lines(stack, 1, 200) - survivor == 2
        retried = [line for line in stack.nginx.access_lines() if ", " in line.split("upstream=", 1)[-1]]
        assert retried, "no request was passed on to the next web process after the first refused it"

        stack.restart_web(0)
        before = len(access_log(stack.webs[0]))
        deadline = time.monotonic() + 60  # nginx retries a failed server after fail_timeout (5 s in the file)
        while len(access_log(stack.webs[0])) == before and time.monotonic() < deadline:
            assert client.get("/healthz").status_code == 200
            time.sleep(0.2)
        assert len(access_log(stack.webs[0])) > before, "the restarted web process got no request within 60 s"
    wait_for_tasks(engine, [sid for sid, _ in answers])


def test_a_process_whose_public_url_says_http_refuses_twilios_https_signatures(stack: Stack) -> None:
    """HOTLINE_PUBLIC_URL must be exactly what Twilio calls: web1, started with http://, refuses every webhook
    signed for https:// (all that Twilio sends), and accepts one signed for http://, the URL it was told."""
    stack.restart_web(1, HOTLINE_PUBLIC_URL=f"http://{HOST}")
    outcomes: list[tuple[str, int, list[int]]] = []
    with stack.client() as client:
        for scheme in ("https", "https", "http", "http"):
            form, headers = sms(RESIDENTS[0], f"{scheme}://{HOST}")
            answer, by = served(
                stack.webs,
                lambda f=form, h=headers: client.post("/twilio/sms", data=f, headers=h),  # type: ignore[misc]
            )
            outcomes.append((scheme, answer.status_code, by))
    expected = [(scheme, 200 if (by == [1, 0]) == (scheme == "https") else 403, by) for scheme, _, by in outcomes]
    assert outcomes == expected
    assert {tuple(by) for _, _, by in outcomes} == {(1, 0), (0, 1)}, "both processes must have been asked"
