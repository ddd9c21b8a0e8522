"""The voice steps' group commit: steps of many calls arriving together share one transaction and one hand-over.

Many webhooks are sent at once through the ASGI app in one event loop (httpx's ASGI transport), so they really
do meet in one batch; Twilio's retries of the same webhook are among them.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
from rq import Queue
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from dispatch.models import Call, InboundMessage, WebhookReceipt
from hotline.app import create_app
from hotline.services import Services
from hotline.settings import Settings
from hotline.webhooks.signatures import SIGNATURE_HEADER
from hotline.webhooks.voice_hotline import group_commit
from tests.callflow import ACCOUNT_SID, parse_voice_twiml
from tests.conftest import HOTLINE_NUMBER, RESIDENT_PHONE, STRANGER_PHONE
from tests.voice_helpers import SERVICE_DUTY
from workers.queues import INBOUND

pytestmark = pytest.mark.usefixtures("community")
Post = tuple[str, dict[str, str], dict[str, str]]  # path with query, form, extra headers


@pytest.fixture
def environ(environ: dict[str, str]) -> dict[str, str]:
    return {**environ, "HOTLINE_DUTY_PHONE": SERVICE_DUTY}


def call_form(sid: str, phone: str = RESIDENT_PHONE) -> dict[str, str]:
    return {
        "CallSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": phone,
        "To": HOTLINE_NUMBER,
        "CallStatus": "ringing",
        "Direction": "inbound",
    }


def new_sid() -> str:
    return "CA" + uuid.uuid4().hex


async def _post_all(settings: Settings, services: Services, posts: list[Post]) -> list[httpx.Response]:
    app = create_app(settings, services)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as client:

        def post(target: str, form: dict[str, str], headers: dict[str, str]):  # type: ignore[no-untyped-def]
            url = urlsplit(target)
            signature = services.signature.sign(url.path, form, url.query)
            return client.post(target, data=form, headers={SIGNATURE_HEADER: signature, **headers})

        return list(await asyncio.gather(*(post(*p) for p in posts)))


def post_all(settings: Settings, services: Services, posts: list[Post]) -> list[httpx.Response]:
    return asyncio.run(_post_all(settings, services, posts))


def batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the batches the writer commits, from now on."""
    sizes: list[int] = []
    commit = group_commit.StepWriter._commit

    def counted(self: group_commit.StepWriter, requests: list[group_commit.StepRequest]) -> list[group_commit.Outcome]:
        sizes.append(len(requests))
        return commit(self, requests)

    monkeypatch.setattr(group_commit.StepWriter, "_commit", counted)
    return sizes


def menu_action(twiml: str) -> str:
    """The <Gather>'s action, as the path and query Twilio posts to."""
    gather = parse_voice_twiml(twiml).find("Gather")
    assert gather is not None, twiml
    url = urlsplit(gather.attrib["action"])
    return f"{url.path}?{url.query}"


def count(services: Services, model: type[Call] | type[InboundMessage] | type[WebhookReceipt]) -> int:
    with services.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def queued_ids(services: Services) -> list[int]:
    return [i for job in Queue(INBOUND, connection=services.redis).get_jobs() for i in job.args]


def test_callers_arriving_together_each_hear_their_menu_and_have_one_call_row(
    settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sizes = batches(monkeypatch)
    sids = [new_sid() for _ in range(24)]
    sids += sids[:4]  # Twilio delivering four of them twice at once, with no idempotency token
    phones = [RESIDENT_PHONE if i % 3 else STRANGER_PHONE for i in range(24)]
    phones += phones[:4]

    answers = post_all(
        settings, services, [("/twilio/voice", call_form(s, p), {}) for s, p in zip(sids, phones, strict=True)]
    )

    assert [a.status_code for a in answers] == [200] * len(sids)
    for answer, phone in zip(answers, phones, strict=True):
        said = "".join(say.text or "" for say in parse_voice_twiml(answer.text).iter("Say"))
        assert ("梁阿姨" in said) == (phone == RESIDENT_PHONE)  # each caller greeted as themself
        assert menu_action(answer.text).startswith("/twilio/voice/menu?")
    with services.sessions() as session:
        calls = {c.call_sid: c for c in session.scalars(select(Call))}
    assert sorted(calls) == sorted(set(sids))  # one row each
    assert all(calls[s].from_phone == p for s, p in zip(sids, phones, strict=True))
    assert sum(sizes) == len(sids) and len(sizes) < len(sids)  # shared transactions: it did batch
    assert "runs again alone" not in caplog.text  # the copies found their call's row in the batch's read-ahead


def test_a_step_retried_while_its_first_delivery_is_in_the_batch_stores_once(
    settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sids = [new_sid() for _ in range(8)]
    entries = post_all(settings, services, [("/twilio/voice", call_form(s), {}) for s in sids])
    sizes = batches(monkeypatch)
    keys: list[Post] = []
    for sid, entry in zip(sids, entries, strict=True):
        form = {**call_form(sid), "CallStatus": "in-progress", "Digits": "2"}
        token = {"I-Twilio-Idempotency-Token": f"{sid}-menu"}
        keys += [(menu_action(entry.text), form, token)] * 2  # Twilio's retry, with the same token
        keys.append((menu_action(entry.text), form, {}))  # and a copy without one

    answers = post_all(settings, services, keys)

    assert [a.status_code for a in answers] == [200] * len(keys)
    for i in range(0, len(keys), 3):
        assert answers[i].text == answers[i + 1].text  # the retry hears what the first delivery heard
        parse_voice_twiml(answers[i + 2].text)
    with services.sessions() as session:
        needs = list(session.scalars(select(InboundMessage.provider_sid)))
    assert sorted(n.split(":")[0] for n in needs) == sorted(sids)  # one need per call, whatever came twice
    assert sorted(queued_ids(services)) == sorted(set(queued_ids(services)))  # each need queued once
    assert len(queued_ids(services)) == len(sids)
    assert count(services, WebhookReceipt) == len(sids)
    assert len(sizes) < len(keys)
    assert "runs again alone" not in caplog.text  # a copy found its need in the batch's read-ahead


def test_a_step_that_fails_inside_a_batch_reaches_the_duty_phone_and_the_others_keep_theirs(
    settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hotline.webhooks.voice_hotline import steps

    identify = steps.identify_caller

    def broken_for_strangers(session: Session, phone: str, **kwargs: object):  # type: ignore[no-untyped-def]
        if phone == STRANGER_PHONE:
            raise RuntimeError("a bug for this caller")
        return identify(session, phone, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(steps, "identify_caller", broken_for_strangers)
    sizes = batches(monkeypatch)
    sids = [new_sid() for _ in range(12)]
    phones = [STRANGER_PHONE if i % 4 == 0 else RESIDENT_PHONE for i in range(len(sids))]

    answers = post_all(
        settings, services, [("/twilio/voice", call_form(s, p), {}) for s, p in zip(sids, phones, strict=True)]
    )

    assert [a.status_code for a in answers] == [200] * len(sids)
    for answer, phone in zip(answers, phones, strict=True):
        response = parse_voice_twiml(answer.text)
        if phone == STRANGER_PHONE:  # the apology, then a person
            assert [n.text for n in response.iter("Number")] == [SERVICE_DUTY]
            assert response.find("Record") is not None
        else:
            assert response.find("Gather") is not None
    with services.sessions() as session:
        stored = set(session.scalars(select(Call.call_sid)))
    assert stored == {s for s, p in zip(sids, phones, strict=True) if p == RESIDENT_PHONE}
    assert len(sizes) < len(sids)


def fail_first_commits(services: Services, times: int) -> Callable[[], int]:
    """Make the next `times` commits of a write session fail; returns how many did."""
    failed = [0]

    def refuse(session: Session) -> None:
        if session.in_nested_transaction():  # a savepoint: not a commit
            return
        if failed[0] < times:
            failed[0] += 1
            raise RuntimeError("the disk is full")

    event.listen(services.sessions, "before_commit", refuse)
    return lambda: failed[0]


def test_a_batch_whose_commit_fails_runs_each_step_alone(
    settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = batches(monkeypatch)
    failed = fail_first_commits(services, 1)
    sids = [new_sid() for _ in range(10)]

    answers = post_all(settings, services, [("/twilio/voice", call_form(s), {}) for s in sids])

    assert failed() == 1 and sizes[0] > 1  # a batch's commit was the one refused
    assert [a.status_code for a in answers] == [200] * len(sids)
    assert all(parse_voice_twiml(a.text).find("Gather") is not None for a in answers)  # every caller's menu
    assert count(services, Call) == len(sids)


def test_when_nothing_can_be_committed_every_caller_still_reaches_a_person(
    settings: Settings, services: Services
) -> None:
    fail_first_commits(services, 10_000)
    sids = [new_sid() for _ in range(10)]

    answers = post_all(settings, services, [("/twilio/voice", call_form(s), {}) for s in sids])

    assert [a.status_code for a in answers] == [200] * len(sids)
    for answer in answers:
        response = parse_voice_twiml(answer.text)
        assert [n.text for n in response.iter("Number")] == [SERVICE_DUTY]
        assert response.find("Record") is not None  # then a voicemail
    assert count(services, Call) == 0


def statements(services: Services) -> list[str]:
    """The SQL statements run from now on, each as its first three words."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(" ".join(statement.split()[:3]).upper())

    event.listen(services.engine, "before_cursor_execute", record)
    return seen


def flushes(sql: list[str]) -> int:
    """How many runs of writes (INSERT, UPDATE) there are between reads."""
    kinds = [s.split()[0] for s in sql if s.split()[0] in ("SELECT", "INSERT", "UPDATE")]
    return sum(1 for i, kind in enumerate(kinds) if kind != "SELECT" and (i == 0 or kinds[i - 1] == "SELECT"))


def test_a_batch_writes_its_calls_and_needs_in_one_flush_without_a_savepoint_per_step(
    settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = batches(monkeypatch)
    sql = statements(services)
    sids = [new_sid() for _ in range(16)]
    entries = post_all(settings, services, [("/twilio/voice", call_form(s), {}) for s in sids])
    entry_sql, entry_batches = list(sql), len(sizes)
    sql.clear()
    form = {"CallStatus": "in-progress", "Digits": "2"}
    keys = [(menu_action(e.text), {**call_form(s), **form}, {}) for s, e in zip(sids, entries, strict=True)]

    answers = post_all(settings, services, keys)

    key_sql, key_batches = list(sql), len(sizes) - entry_batches
    assert [a.status_code for a in entries + answers] == [200] * 2 * len(sids)
    assert count(services, Call) == len(sids) and entry_batches < len(sids) and key_batches < len(sids)
    assert len(queued_ids(services)) == count(services, InboundMessage) == len(sids)
    assert not [s for s in entry_sql + key_sql if "SAVEPOINT" in s]
    assert flushes(entry_sql) <= entry_batches and flushes(key_sql) <= key_batches  # after the batch's reads
    assert key_sql.count("UPDATE CALLS SET") == key_batches  # the calls' "chose" for the batch at once


def test_a_batch_of_new_calls_reads_who_may_ring_to_check_in_once_not_per_call(
    settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Residents calling at 09:00 with no ring mode on: whether each call is a ring is read with the batch, not by
    three statements of its own per call (its CallSid among the rings, the resident, the ring setting)."""
    sizes = batches(monkeypatch)
    sql = statements(services)
    sids = [new_sid() for _ in range(16)]
    entries = post_all(settings, services, [("/twilio/voice", call_form(s), {}) for s in sids])
    assert [e.status_code for e in entries] == [200] * len(sids) and len(sizes) < len(sids)
    assert all(parse_voice_twiml(e.text).find("Gather") is not None for e in entries)  # each hears the menu
    assert [s for s in sql if s.startswith(("SELECT RINGS.ID", "SELECT RING_SETTINGS.MODE"))] == []


def test_a_step_that_fails_after_others_stored_needs_leaves_each_of_theirs_stored_and_queued_once(
    settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from hotline.webhooks.voice_hotline import steps

    sids = [new_sid() for _ in range(12)]
    entries = post_all(settings, services, [("/twilio/voice", call_form(s), {}) for s in sids])
    broken, facts = sids[7], steps.menu_facts

    def broken_for_one_call(session: Session, script, context, step, press, now):  # type: ignore[no-untyped-def]
        if step.call_sid == broken:
            raise RuntimeError("a bug for this call")
        return facts(session, script, context, step, press, now)

    monkeypatch.setattr(steps, "menu_facts", broken_for_one_call)
    sizes = batches(monkeypatch)
    form = {"CallStatus": "in-progress", "Digits": "2"}

    answers = post_all(
        settings,
        services,
        [(menu_action(e.text), {**call_form(s), **form}, {}) for s, e in zip(sids, entries, strict=True)],
    )

    assert [a.status_code for a in answers] == [200] * len(sids)
    assert "failed in a batch; it runs again alone" in caplog.text and len(sizes) < len(sids)
    for sid, answer in zip(sids, answers, strict=True):
        said = parse_voice_twiml(answer.text)
        assert ([n.text for n in said.iter("Number")] == [SERVICE_DUTY]) == (sid == broken)  # a person
    with services.sessions() as session:
        needs = {m.id: m.provider_sid.split(":")[0] for m in session.scalars(select(InboundMessage))}
    assert sorted(needs.values()) == sorted(s for s in sids if s != broken)  # one need each, none for the broken
    assert sorted(queued_ids(services)) == sorted(needs)  # each queued once, by its id


Message = MutableMapping[str, Any]


def test_callers_are_answered_once_their_batch_commits_and_its_hand_over_to_redis_follows_the_answers(
    settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    sids = [new_sid() for _ in range(6)]
    entries = post_all(settings, services, [("/twilio/voice", call_form(s), {}) for s in sids])
    answered = threading.Event()
    stored_when_answered: list[int] = []  # the needs committed when each caller's answer was sent
    answered_before_hand_over: list[bool] = []
    hand_over = group_commit.hand_over

    def after_an_answer(redis, decided):  # type: ignore[no-untyped-def]
        answered_before_hand_over.append(answered.wait(timeout=5))  # bounded: the old writer never answers first
        hand_over(redis, decided)

    monkeypatch.setattr(group_commit, "hand_over", after_an_answer)

    def marking(app: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        async def marked(scope: Message, receive: Callable[[], Awaitable[Message]], send: Callable[..., Any]) -> None:
            async def sending(message: Message) -> None:
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    stored_when_answered.append(count(services, InboundMessage))
                    answered.set()
                await send(message)

            await app(scope, receive, sending)

        return marked

    async def post_keys() -> list[httpx.Response]:
        app = marking(create_app(settings, services))
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as client:
            posts = []
            for sid, entry in zip(sids, entries, strict=True):
                target, form = menu_action(entry.text), {**call_form(sid), "CallStatus": "in-progress", "Digits": "2"}
                url = urlsplit(target)
                signature = services.signature.sign(url.path, form, url.query)
                posts.append(client.post(target, data=form, headers={SIGNATURE_HEADER: signature}))
            return list(await asyncio.gather(*posts))

    answers = asyncio.run(post_keys())

    assert [a.status_code for a in answers] == [200] * len(sids)
    assert answered_before_hand_over and all(answered_before_hand_over)  # no caller waited for Redis
    assert len(stored_when_answered) == len(sids)
    assert all(stored >= n for n, stored in enumerate(stored_when_answered, 1))  # each answered after its commit
    assert count(services, InboundMessage) == len(sids)
    assert sorted(queued_ids(services)) == sorted(set(queued_ids(services)))  # the request ended once handed over
    assert len(queued_ids(services)) == len(sids)
