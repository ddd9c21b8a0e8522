"""What a batch of call steps writes: its new calls and needs inserted one statement per table, the needs' ids
read back for intake, and a row made meanwhile by another process still stored once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dispatch.ivr import batch_reads
from dispatch.models import Call, InboundMessage
from hotline.services import Services
from hotline.settings import Settings
from hotline.webhooks.voice_hotline import steps
from tests.callflow import parse_voice_twiml
from tests.conftest import RESIDENT_PHONE, STRANGER_PHONE
from tests.test_voice_group_commit import (
    batches,
    call_form,
    count,
    menu_action,
    new_sid,
    post_all,
    queued_ids,
    statements,
)
from tests.voice_helpers import SERVICE_DUTY

pytestmark = pytest.mark.usefixtures("community")
KEY = {"CallStatus": "in-progress", "Digits": "2"}


@pytest.fixture
def environ(environ: dict[str, str]) -> dict[str, str]:
    return {**environ, "HOTLINE_DUTY_PHONE": SERVICE_DUTY}


def test_a_batch_inserts_its_new_calls_and_its_needs_in_one_statement_per_table(
    settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = batches(monkeypatch)
    sql = statements(services)
    sids = [new_sid() for _ in range(16)]
    phones = [RESIDENT_PHONE if i % 4 else STRANGER_PHONE for i in range(16)]

    entries = post_all(
        settings, services, [("/twilio/voice", call_form(s, p), {}) for s, p in zip(sids, phones, strict=True)]
    )
    entry_sql, entry_batches = list(sql), len(sizes)
    sql.clear()
    keys = [
        (menu_action(e.text), {**call_form(s, p), **KEY}, {}) for s, p, e in zip(sids, phones, entries, strict=True)
    ]
    answers = post_all(settings, services, keys)
    key_sql, key_batches = list(sql), len(sizes) - entry_batches

    assert [a.status_code for a in entries + answers] == [200] * 2 * len(sids)
    assert entry_batches < len(sids) and key_batches < len(sids)  # it did batch
    assert entry_sql.count("INSERT INTO CALLS") == entry_batches  # one INSERT a batch, not one a call
    assert key_sql.count("INSERT INTO INBOUND_MESSAGES") == key_batches
    assert "INSERT INTO CALLS" not in key_sql  # the keys' calls were stored: found, not made again
    with services.sessions() as session:
        calls = {c.call_sid: c for c in session.scalars(select(Call))}
        needs = {m.provider_sid.split(":")[0]: m for m in session.scalars(select(InboundMessage))}
    assert sorted(calls) == sorted(sids)
    assert all(calls[s].from_phone == p and calls[s].direction == "inbound" for s, p in zip(sids, phones, strict=True))
    assert all(calls[s].started_at is not None and not calls[s].connected for s in sids)
    residents = [s for s, p in zip(sids, phones, strict=True) if p == RESIDENT_PHONE]
    assert all(calls[s].caller_kind == "resident" and calls[s].resident_id is not None for s in residents)
    assert all(calls[s].chose and calls[s].task_made for s in residents)  # the key's changes to stored rows
    assert sorted(needs) == sorted(residents)  # a need for each resident's key (a stranger's "2" is no need)
    assert all(m.channel == "voice" and m.received_at is not None and not m.urgent for m in needs.values())
    assert sorted(queued_ids(services)) == sorted(m.id for m in needs.values())  # the ids read back, each once


def test_a_call_row_made_meanwhile_by_another_process_is_stored_once_and_every_caller_hears_their_menu(
    settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    made_meanwhile = new_sid()
    post_all(settings, services, [("/twilio/voice", call_form(made_meanwhile), {})])  # its row is stored
    read = batch_reads.calls_by_sid

    def not_seeing_it(session, call_sids, **kwargs):  # type: ignore[no-untyped-def]
        # As if the other process stored it just after this batch read: the batch makes the row again.
        return {sid: call for sid, call in read(session, call_sids, **kwargs).items() if sid != made_meanwhile}

    monkeypatch.setattr(steps, "calls_by_sid", not_seeing_it)
    sids = [new_sid() for _ in range(7)] + [made_meanwhile]

    answers = post_all(settings, services, [("/twilio/voice", call_form(s), {}) for s in sids])

    assert [a.status_code for a in answers] == [200] * len(sids)
    assert all(menu_action(a.text).startswith("/twilio/voice/menu?") for a in answers)
    assert all("梁阿姨" in "".join(s.text or "" for s in parse_voice_twiml(a.text).iter("Say")) for a in answers)
    with services.sessions() as session:
        stored = list(session.scalars(select(Call.call_sid)))
    assert sorted(stored) == sorted(sids)  # the batch's INSERT failed whole; each step alone found or made its row
    assert "each runs alone" in caplog.text


def test_a_need_stored_meanwhile_by_another_process_is_stored_and_queued_once(
    settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    sids = [new_sid() for _ in range(6)]
    entries = post_all(settings, services, [("/twilio/voice", call_form(s), {}) for s in sids])
    keys = [(menu_action(e.text), {**call_form(s), **KEY}, {}) for s, e in zip(sids, entries, strict=True)]
    post_all(settings, services, keys[:1])  # the first call's need is stored and queued
    first = set(queued_ids(services))
    monkeypatch.setattr(steps, "needs_of_calls", lambda session, call_sids: set())  # the batch does not see it

    answers = post_all(settings, services, keys)

    assert [a.status_code for a in answers] == [200] * len(sids)
    assert count(services, InboundMessage) == len(sids)  # one need per call
    queued = queued_ids(services)
    assert len(queued) == len(set(queued)) == len(sids) and first <= set(queued)  # each queued once
