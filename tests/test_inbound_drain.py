"""The drain in batches: an inbound job that finds others waiting behind it handles all their messages in one
transaction (`dispatch.intake_batch`), through the same rules as one message alone."""

from __future__ import annotations

import dataclasses
import threading
import uuid

import pytest
from rq import Queue
from sqlalchemy import func, select

from dispatch import intake_facts, register
from dispatch.inbound import InboundSms, store_inbound_batch
from dispatch.intake_batch import handle_inbound_batch
from dispatch.models import (
    CheckinStatus,
    InboundMessage,
    OutboundMessage,
    Task,
    TaskEvent,
    TaskPriority,
    TaskStatus,
)
from hotline.handover import Decided, hand_over
from hotline.jobs import inbound, sweeper
from hotline.services import Services
from tests.checkin_helpers import checkin_of, tick
from tests.conftest import HOTLINE_NUMBER, LIAISON_PHONE, PHONES, RESIDENT_PHONE, Clock, at, local_outbox, run_worker
from workers.queues import INBOUND, InFlight, enqueue_inbound_many, take_waiting_inbound

NEIGHBOUR_PHONE = "+8613800138001"  # the resident's husband, same household


def store(services: Services, *messages: tuple[str, str]) -> list[int]:
    """Store SMS (from, body) as the group commit does, and queue them as it does: one job for up to 32."""
    sms = [InboundSms(f"SM{uuid.uuid4().hex}", p, HOTLINE_NUMBER, b, None, "twilio") for p, b in messages]
    with services.sessions.begin() as session:
        ids = [stored.message_id for stored in store_inbound_batch(session, sms)]
    hand_over(services.redis, Decided(inbound=ids))
    return ids


def counts(services: Services) -> dict[str, int]:
    with services.sessions() as session:
        return {
            "tasks": session.scalar(select(func.count()).select_from(Task)) or 0,
            "outbound": session.scalar(select(func.count()).select_from(OutboundMessage)) or 0,
            "unprocessed": session.scalar(
                select(func.count()).select_from(InboundMessage).where(InboundMessage.processed_at.is_(None))
            )
            or 0,
        }


def test_the_first_job_takes_the_waiting_ones_and_a_second_run_changes_nothing(
    services: Services, registered: dict[str, int]
) -> None:
    # Three commits (three web requests' group commits), so three jobs.
    ids = [*store(services, (RESIDENT_PHONE, "想买菜")), *store(services, ("+8613700000009", "你好"))]
    ids += store(services, (RESIDENT_PHONE, "好的"))
    assert Queue(INBOUND, connection=services.redis).count == 3
    run_worker(services)
    assert counts(services) == {"tasks": 1, "outbound": 3, "unprocessed": 0}  # offer, receipt, stranger's reply
    sent = len(local_outbox(services))
    assert sent == 3
    # The same batch again, as a retried job would run it: nothing changes, nothing is sent.
    with services.sessions.begin() as session:
        again = handle_inbound_batch(session, ids, services.intake, services.clock())
    assert set(again.outcomes.values()) == {None} and again.outbound_ids == []
    assert inbound.process_inbound_batch(ids) == "0 handled"
    run_worker(services)
    assert counts(services) == {"tasks": 1, "outbound": 3, "unprocessed": 0}
    assert len(local_outbox(services)) == sent


def test_two_messages_of_one_household_in_one_batch_make_one_task_per_need(
    services: Services, registered: dict[str, int]
) -> None:
    ids = store(services, (RESIDENT_PHONE, "想买菜"), (RESIDENT_PHONE, "再买点米"), (RESIDENT_PHONE, "帮我买药"))
    with services.sessions.begin() as session:
        done = handle_inbound_batch(session, ids, services.intake, services.clock())
    assert len(done.task_ids) == 3 and len(set(done.task_ids)) == 2  # the second joined the first's task
    with services.sessions() as session:
        categories = sorted(str(t.category) for t in session.scalars(select(Task)))
    assert categories == ["groceries", "medicine"]


def test_two_batches_at_once_make_one_task_per_need(services: Services, registered: dict[str, int]) -> None:
    """Two workers, each with a batch holding a message of the same household (PostgreSQL: really at once)."""
    first = store(services, (RESIDENT_PHONE, "想买菜"), ("+8613700000001", "你好"))
    second = store(services, (RESIDENT_PHONE, "买点菜"), ("+8613700000002", "你好"))
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def drain(ids: list[int]) -> None:
        try:
            start.wait(10)
            with services.sessions.begin() as session:
                handle_inbound_batch(session, ids, services.intake, services.clock())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(ids,)) for ids in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Task)) == 1
        (task,) = session.scalars(select(Task))
        assert "想买菜" in task.description and "买点菜" in task.description


def test_a_message_that_fails_the_batch_holds_up_no_other_and_is_not_lost(
    services: Services, registered: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dispatch import intake_batch

    real = intake_batch.decide

    def poisoned(session, message, *args, **kwargs):  # type: ignore[no-untyped-def]
        if message.body == "坏消息":
            raise RuntimeError("injected fault on one message")
        return real(session, message, *args, **kwargs)

    monkeypatch.setattr("dispatch.intake_batch.decide", poisoned)
    # Three commits, three jobs: the first takes the others, so the bad message's own job is gone from Redis.
    for sms in ((RESIDENT_PHONE, "想买菜"), ("+8613700000009", "坏消息"), ("+8613700000008", "你好")):
        store(services, sms)
    run_worker(services)
    assert counts(services)["unprocessed"] == 1  # the others were handled, one by one
    assert counts(services)["tasks"] == 1
    monkeypatch.undo()
    sweeper.sweep(grace_seconds=0)
    run_worker(services)
    assert counts(services)["unprocessed"] == 0


def test_health_first_in_a_batch_unwell_or_unclear_is_never_fine(
    services: Services, registered: dict[str, int]
) -> None:
    phones = ["+8613800138011", "+8613800138012", "+8613800138013", "+8613800138014"]
    with services.sessions.begin() as session:
        for i, phone in enumerate(phones):
            register.add_resident(session, name=f"居民{i}", phones=[phone], liaison_phone=LIAISON_PHONE, region="CN")
    bodies = ["1", "不舒服", "我很好，就是头有点晕", "发烧38.9"]
    ids = store(services, *zip(phones, bodies, strict=True))
    with services.sessions.begin() as session:
        handle_inbound_batch(session, ids, services.intake, services.clock())
    with services.sessions() as session:
        outcomes = [session.get(InboundMessage, i).outcome for i in ids]  # type: ignore[union-attr]
        tasks = {t.source_message_id: t for t in session.scalars(select(Task))}
    assert [str(o) for o in outcomes] == ["fine", "task_created", "task_created", "task_created"]
    assert tasks[ids[1]].priority == TaskPriority.URGENT and tasks[ids[3]].priority == TaskPriority.URGENT
    assert ids[2] in tasks  # words not read whole: a person reads them


def test_health_first_in_a_batch_the_check_in_answer_only_grows_more_serious(
    services: Services, clock: Clock, town: dict[str, int]
) -> None:
    """One batch: 梁阿姨 says fine, then unwell; 王大爷 sends words nobody can read, then fine. Each check-in
    keeps the most serious answer, and the unclear words are a task for a person, due by the check-in's deadline."""
    tick(services, clock, "09:00")
    clock.now = at("09:10")
    ids = store(
        services,
        (PHONES["梁阿姨"], "1"),
        (PHONES["王大爷"], "今天天气不错"),
        (PHONES["梁阿姨"], "不舒服"),
        (PHONES["王大爷"], "好的"),
    )
    with services.sessions.begin() as session:
        done = handle_inbound_batch(session, ids, services.intake, clock.now)
    assert [str(done.outcomes[i]) for i in ids] == ["fine", "task_created", "task_created", "fine"]
    assert checkin_of(services, town["梁阿姨"]).status == CheckinStatus.UNWELL
    assert checkin_of(services, town["王大爷"]).status == CheckinStatus.NEEDS
    with services.sessions() as session:
        made = {t.source_message_id: t for t in session.scalars(select(Task))}
    assert made[ids[2]].priority == TaskPriority.URGENT
    assert made[ids[1]].due_by is not None  # someone must have read 王大爷's words by the check-in's deadline


def test_a_liaison_takes_a_task_made_earlier_in_the_same_batch(services: Services, registered: dict[str, int]) -> None:
    ids = store(services, ("+8613700000009", "你好"), (RESIDENT_PHONE, "想买菜"), (LIAISON_PHONE, "接"))
    with services.sessions.begin() as session:
        done = handle_inbound_batch(session, ids, services.intake, services.clock())
    assert [str(done.outcomes[i]) for i in ids] == ["unknown_sender", "task_created", "from_liaison"]
    with services.sessions() as session:
        (task,) = session.scalars(select(Task))
    assert task.status == TaskStatus.ACCEPTED  # written and offered before the liaison's reply was read
    assert events_of(services, task.id) == ["created", "offered", "accepted"]


def test_a_batchs_task_events_keep_their_order_around_a_liaisons_reply(
    services: Services, registered: dict[str, int]
) -> None:
    """The batch writes its task events together, but never after a liaison's reply that came later: more words
    join the open task before the liaison takes it, and its history says so in that order."""
    store(services, (RESIDENT_PHONE, "想买菜"))
    run_worker(services)
    ids = store(services, (RESIDENT_PHONE, "再买点米"), (LIAISON_PHONE, "接"))
    with services.sessions.begin() as session:
        done = handle_inbound_batch(session, ids, services.intake, services.clock())
    assert [str(done.outcomes[i]) for i in ids] == ["task_created", "from_liaison"]
    with services.sessions() as session:
        (task,) = session.scalars(select(Task))
    assert task.status == TaskStatus.ACCEPTED
    assert events_of(services, task.id) == ["created", "offered", "added", "accepted"]


def events_of(services: Services, task_id: int) -> list[str]:
    """A task's history, in the order written."""
    with services.sessions() as session:
        return list(session.scalars(select(TaskEvent.kind).where(TaskEvent.task_id == task_id).order_by(TaskEvent.id)))


def test_one_commits_messages_are_one_job_that_the_sweeper_sees_waiting_for_each(
    services: Services, registered: dict[str, int]
) -> None:
    ids = store(services, (RESIDENT_PHONE, "想买菜"), ("+8613700000009", "你好"), (RESIDENT_PHONE, "帮我买药"))
    assert Queue(INBOUND, connection=services.redis).job_ids == ["inbound-" + "_".join(map(str, ids))]
    in_flight = InFlight.read(services.redis)
    assert all(f"inbound-{i}" in in_flight for i in ids)
    assert sweeper.sweep(grace_seconds=0)["inbound"] == 0  # each message's job is on its way: none queued twice
    run_worker(services)
    assert counts(services) == {"tasks": 2, "outbound": 5, "unprocessed": 0}


def test_a_job_takes_waiting_jobs_whole_up_to_its_limit(services: Services, registered: dict[str, int]) -> None:
    enqueue_inbound_many(services.redis, [1, 2, 3], per_job=2)  # inbound-1_2, inbound-3
    enqueue_inbound_many(services.redis, [4, 5, 6], per_job=3)  # inbound-4_5_6
    assert take_waiting_inbound(services.redis, limit=4) == [1, 2, 3]  # 4_5_6 would pass the limit: it waits
    assert Queue(INBOUND, connection=services.redis).job_ids == ["inbound-4_5_6"]
    assert take_waiting_inbound(services.redis, limit=2) == [4, 5, 6]  # a job is never split; the first is taken


def test_a_need_never_joins_a_task_closed_after_the_batch_read_it(
    services: Services, registered: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A liaison closes a task (locking the task, not the household) while a batch that read it as open runs."""
    if services.engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers, so a liaison cannot close a task inside a batch's transaction")
    store(services, (RESIDENT_PHONE, "想买菜"))
    run_worker(services)
    with services.sessions() as session:
        (first,) = session.scalars(select(Task))
    real_read = intake_facts.Facts.read.__func__  # type: ignore[attr-defined]

    def closed_in_between(cls, session, messages, now):  # type: ignore[no-untyped-def]
        facts = real_read(cls, session, messages, now)
        with services.sessions.begin() as other:
            task = other.get(Task, first.id, with_for_update=True)
            assert task is not None
            task.status = TaskStatus.DONE
        return facts

    monkeypatch.setattr(intake_facts.Facts, "read", classmethod(closed_in_between))
    ids = store(services, (RESIDENT_PHONE, "还要买点菜"))
    with services.sessions.begin() as session:
        done = handle_inbound_batch(session, ids, services.intake, services.clock())
    with services.sessions() as session:
        closed = session.get(Task, first.id)
        made = session.scalars(select(Task).where(Task.id != first.id)).all()
    assert closed is not None and closed.description == "想买菜"  # nothing joined a closed task
    assert [t.status for t in made] == [TaskStatus.OFFERED] and done.task_ids == [made[0].id]


def test_repeats_from_one_unknown_number_spend_no_other_numbers_reply(
    services: Services, registered: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "intake", dataclasses.replace(services.intake, unknown_replies_per_hour=2))
    ids = store(services, *[("+8613700000009", f"你好{i}") for i in range(5)], ("+8613700000008", "你好"))
    with services.sessions.begin() as session:
        done = handle_inbound_batch(session, ids, services.intake, services.clock())
    with services.sessions() as session:
        replied = session.scalars(select(OutboundMessage.to_phone).where(OutboundMessage.id.in_(done.outbound_ids)))
        assert sorted(replied) == ["+8613700000008", "+8613700000009"]  # one each: the repeats spent nothing
