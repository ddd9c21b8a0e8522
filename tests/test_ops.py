"""/healthz, /readyz and /metrics, on a real redis-server and a real database (SQLite, or PostgreSQL)."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, update
from starlette.testclient import TestClient

from dispatch import outbox
from dispatch.db import alembic_config
from dispatch.models import InboundMessage, OutboundMessage, StaffRole, utcnow
from dispatch.tasks import escalation as ladder
from dispatch.tokens import create_token, revoke_token
from hotline import ops
from hotline.app import create_app
from hotline.jobs import checkins as checkin_jobs
from hotline.services import Services
from hotline.settings import Settings, load_settings
from tests.conftest import (
    HOTLINE_NUMBER,
    LIAISON_PHONE,
    PHONES,
    PUBLIC_URL,
    RESIDENT_PHONE,
    Clock,
    at,
    post_signed,
    run_worker,
    sms_params,
)
from tests.route_rules import phone_forms
from workers.queues import enqueue_inbound

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def tokens(services: Services, clerk: bool = False) -> dict[str, str]:
    """An admin's, a revoked admin's and an expired admin's bearer headers, and a clerk's if asked (with a resident
    in a community for it)."""
    from dispatch import register

    with services.sessions.begin() as session:
        made = {"admin": create_token(session, name="prometheus", role=StaffRole.ADMIN)[1]}
        if clerk:
            register.add_resident(
                session,
                name="梁阿姨",
                phones=["13800138099"],
                region="CN",
                address=register.Address("幸福里社区", "1号楼", "1单元", "101"),
            )
            made["clerk"] = create_token(session, name="clerk", role=StaffRole.CLERK, community="幸福里社区")[1]
        revoked, made["revoked"] = create_token(session, name="old", role=StaffRole.ADMIN)
        revoke_token(session, revoked.id)
        made["expired"] = create_token(
            session,
            name="gone",
            role=StaffRole.ADMIN,
            lifetime=timedelta(seconds=1),
            now=utcnow() - timedelta(minutes=5),
        )[1]
    return {key: f"Bearer {secret}" for key, secret in made.items()}


def scrape(client: TestClient, bearer: str) -> tuple[str, Samples]:
    response = client.get("/metrics", headers={"Authorization": bearer})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    return response.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# ── /healthz and /readyz ────────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def broken(environ: dict[str, str], tmp_path: Path) -> Settings:
    """Settings whose database is a file that is not a database, and whose Redis (with a password) is not there."""
    garbage = tmp_path / "not-a-database.sqlite3"
    garbage.write_bytes(b"this is not a database file " * 200)
    return load_settings(
        {**environ, "DATABASE_URL": f"sqlite:///{garbage}", "REDIS_URL": "redis://:s3cret-pw@127.0.0.1:1/0"},
        env_file=None,
    )


def test_healthz_says_only_that_the_process_is_up_and_readyz_says_what_is_down(broken: Settings) -> None:
    with TestClient(create_app(broken), base_url=PUBLIC_URL) as client:
        health = client.get("/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        ready = client.get("/readyz")
    assert ready.status_code == 503
    checks = {
        "database": "down: DatabaseError",
        "redis": "down: ConnectionError",
        "migrations": "unknown",
        "queues": "unknown",
        "inbound": "unknown",
    }
    assert ready.json() == {"status": "not ready", "checks": checks}
    assert "s3cret" not in ready.text and "127.0.0.1" not in ready.text


def test_readyz_is_ready_when_everything_answers_and_the_database_is_at_head(client: TestClient) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "ok", "migrations": "ok", "queues": "ok: 0 queued", "inbound": "ok"},
    }


def test_readyz_refuses_a_database_behind_the_code(client: TestClient, services: Services) -> None:
    config = alembic_config(services.engine)
    head = ScriptDirectory.from_config(config).get_current_head()
    command.downgrade(config, "-1")
    with services.engine.connect() as conn:
        from alembic.runtime.migration import MigrationContext

        (previous,) = MigrationContext.configure(conn).get_current_heads()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["migrations"] == f"not at head: database {previous}, code {head}"
    assert ready.json()["checks"]["database"] == "ok"
    command.upgrade(config, "head")
    assert client.get("/readyz").status_code == 200


def test_readyz_refuses_queues_backed_up_past_the_limit(settings: Settings, services: Services) -> None:
    for message_id in (1, 2, 3):
        enqueue_inbound(services.redis, message_id)  # no worker runs: they wait
    for limit, status, queues in ((2, 503, "backed up: 3 queued, limit 2"), (3, 200, "ok: 3 queued")):
        limited = replace(settings, ready_queue_limit=limit)
        with TestClient(create_app(limited, replace(services, settings=limited)), base_url=PUBLIC_URL) as client:
            ready = client.get("/readyz")
        assert (ready.status_code, ready.json()["checks"]["queues"]) == (status, queues)


def stored_unprocessed(services: Services, seconds_ago: float) -> int:
    """An inbound message stored `seconds_ago` and never processed: its job was lost, or no worker runs."""
    with services.sessions.begin() as session:
        message = InboundMessage(
            provider_sid="SM" + uuid.uuid4().hex,
            from_phone=RESIDENT_PHONE,
            to_phone=HOTLINE_NUMBER,
            body="发烧了",
            received_at=utcnow() - timedelta(seconds=seconds_ago),
        )
        session.add(message)
        session.flush()
        return message.id


def test_readyz_refuses_a_message_left_unprocessed_past_the_limit(client: TestClient, services: Services) -> None:
    stored_unprocessed(services, seconds_ago=60)  # waiting its turn: fine
    ready = client.get("/readyz")
    assert (ready.status_code, ready.json()["checks"]["inbound"]) == (200, "ok")
    old = stored_unprocessed(services, seconds_ago=121)
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["inbound"] == "stalled: 1 stored over 120 s ago not processed"
    with services.sessions.begin() as session:
        session.execute(update(InboundMessage).where(InboundMessage.id == old).values(processed_at=utcnow()))
    assert client.get("/readyz").status_code == 200


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A port that takes connections and never answers: a hung Redis."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


def test_readyz_never_hangs_on_a_silent_redis(
    settings: Settings, services: Services, silent_redis: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ops.ready, "READY_TIMEOUT", 0.5)
    # The client's own timeout, far past the bound below: a probe that waited for it would fail the test. The
    # bound is generous (a busy machine answers slowly), not a measure of speed.
    hung = replace(settings, redis_url=silent_redis + "?socket_timeout=30")
    app = create_app(hung)
    with TestClient(app, base_url=PUBLIC_URL) as client:
        for _ in range(2):  # the second finds the first still stuck at once
            started = time.monotonic()
            ready = client.get("/readyz")
            assert time.monotonic() - started < 10, "/readyz waited for the silent Redis"
            assert ready.status_code == 503 and ready.json()["checks"]["redis"] == "timeout", ready.text
            assert ready.json()["checks"]["database"] == "ok"


# ── /metrics ────────────────────────────────────────────────────────────────────────────────────────────────


def test_metrics_is_for_admin_tokens_only(client: TestClient, services: Services) -> None:
    bearer = tokens(services, clerk=True)
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
    for who, status in (("revoked", 401), ("expired", 401), ("clerk", 403)):
        response = client.get("/metrics", headers={"Authorization": bearer[who]})
        assert response.status_code == status, who
        assert "hotline_" not in response.text, who
    assert client.get("/metrics", headers={"Authorization": bearer["admin"] + "x"}).status_code == 401
    text, _ = scrape(client, bearer["admin"])
    assert "# HELP hotline_queue_jobs " in text


@pytest.mark.usefixtures("community")
def test_metrics_count_messages_tasks_climbs_queues_and_webhook_time(client: TestClient, services: Services) -> None:
    bearer = tokens(services)["admin"]
    assert post_signed(client, services, "/twilio/sms", sms_params("买菜")).status_code == 200
    run_worker(services)
    status = {"MessageSid": "SM" + "3" * 32, "MessageStatus": "delivered", "To": LIAISON_PHONE}
    assert post_signed(client, services, "/twilio/status?o=1", status).status_code in (200, 204)
    for minutes in (61, 122):  # two rungs: the backup liaison, then the grid leader
        with services.sessions.begin() as session:
            climbed = ladder.escalate_due_tasks(session, utcnow() + timedelta(minutes=minutes), services.intake)
        assert len(climbed.outbound) == 1
    enqueue_inbound(services.redis, 999_999)  # waiting: no worker runs
    text, samples = scrape(client, bearer)

    assert value(samples, "hotline_inbound_messages_today", channel="sms", outcome="task_created") == 1
    assert value(samples, "hotline_inbound_unprocessed") == 0
    assert value(samples, "hotline_inbound_unprocessed_overdue") == 0
    assert value(samples, "hotline_inbound_unprocessed_oldest_age_seconds") == 0
    with services.readonly() as session:
        rows = session.execute(
            select(OutboundMessage.kind, OutboundMessage.status, func.count()).group_by(
                OutboundMessage.kind, OutboundMessage.status
            )
        ).all()
    assert len(rows) >= 2  # the offer, the receipt, the climbs' SMS to the backup and the leader
    for kind, state, count in rows:
        assert value(samples, "hotline_outbound_messages_today", kind=kind, status=state) == count, (kind, state)
    assert value(samples, "hotline_open_tasks", status="escalated", priority="normal", rung="2") == 1
    assert sum(v for (name, _), v in samples.items() if name == "hotline_open_tasks") == 1
    assert (
        0
        <= value(samples, "hotline_open_task_oldest_age_seconds", status="escalated", priority="normal", rung="2")
        < 600
    )
    assert value(samples, "hotline_task_escalations_total") == 2
    assert value(samples, "hotline_queue_jobs", queue="hotline-inbound") == 1
    assert value(samples, "hotline_queue_jobs", queue="hotline-outbound") == 0
    assert value(samples, "hotline_queue_registry_jobs", queue="hotline-inbound", registry="failed") == 0
    assert value(samples, "hotline_metrics_source_up", source="database") == 1
    assert value(samples, "hotline_metrics_source_up", source="redis") == 1
    # The webhooks' time, by route template: never the query string (?o=1) or a path nobody routes.
    client.post("/twilio/nowhere?x=1")
    assert client.post("/httpsms/events", json={}).status_code == 403  # refused, and still timed: every channel's
    _, samples = scrape(client, bearer)
    routes = {dict(labels)["route"] for (name, labels), _ in samples.items() if name == "hotline_webhook_seconds_count"}
    assert routes == {"/twilio/sms", "/twilio/status", "/httpsms/events"}
    assert value(samples, "hotline_webhook_seconds_count", route="/twilio/sms") == 1
    assert value(samples, "hotline_webhook_seconds_count", route="/twilio/status") == 1
    assert not any(form in text for phone in (RESIDENT_PHONE, LIAISON_PHONE) for form in phone_forms(phone))


def test_metrics_show_todays_check_in_coverage(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    bearer = tokens(services)["admin"]
    clock.now = at("09:00")
    checkin_jobs.checkin_tick()
    run_worker(services)
    clock.now = at("09:05")
    for name, body in (("梁阿姨", "1"), ("王大爷", "我要买药")):
        answer = sms_params(body, from_phone=PHONES[name])
        assert post_signed(client, services, "/twilio/sms", answer).status_code == 200
    run_worker(services)
    _, samples = scrape(client, bearer)
    # Nine residents: 周阿姨 opted out (none made); 郑阿婆, under observation, has a 15:00 check-in as well.
    assert value(samples, "hotline_checkins_made_today") == 9
    assert value(samples, "hotline_checkins_today", state="answered") == 2
    assert value(samples, "hotline_checkins_today", state="skipped") == 0
    assert value(samples, "hotline_checkins_today", state="waiting") == 7  # six sent at 09:00, one at 15:00
    assert value(samples, "hotline_checkins_today", state="missed") == 0
    clock.now = at("12:01")  # the deadline: a visit is asked for everyone still silent
    checkin_jobs.checkin_tick()
    run_worker(services)
    _, samples = scrape(client, bearer)
    assert value(samples, "hotline_checkins_today", state="answered") == 2
    assert value(samples, "hotline_checkins_today", state="missed") == 6
    assert value(samples, "hotline_checkins_today", state="waiting") == 1  # 郑阿婆's 15:00
    assert value(samples, "hotline_checkins_today_by_status", status="fine") == 1


def test_metrics_say_which_source_is_down_and_still_answer(settings: Settings, services: Services) -> None:
    bearer = tokens(services)["admin"]
    down = replace(settings, redis_url="redis://127.0.0.1:1/0")
    with TestClient(create_app(down), base_url=PUBLIC_URL) as client:
        text, samples = scrape(client, bearer)
    assert value(samples, "hotline_metrics_source_up", source="redis") == 0
    assert value(samples, "hotline_metrics_source_up", source="database") == 1
    assert "hotline_queue_jobs{" not in text and "hotline_open_tasks" in text


def test_readiness_probes_at_once_share_one_check_and_both_hear_its_answer() -> None:
    import asyncio
    import threading

    guard = ops.ready._Guarded()
    calls = []
    release = threading.Event()

    def slow_but_healthy() -> str:
        calls.append(1)
        release.wait(2)
        return "ok"

    async def two_probes() -> list[str]:
        first = asyncio.create_task(guard.run("database", slow_but_healthy))
        await asyncio.sleep(0.1)  # the first probe's check is in flight
        second = asyncio.create_task(guard.run("database", slow_but_healthy))
        await asyncio.sleep(0.1)
        release.set()
        return list(await asyncio.gather(first, second))

    assert asyncio.run(two_probes()) == ["ok", "ok"]
    assert len(calls) == 1


def test_metrics_show_work_left_past_the_sweepers_grace(client: TestClient, services: Services) -> None:
    bearer = tokens(services)["admin"]
    stored_unprocessed(services, seconds_ago=5)  # within the grace: not yet owed
    stored_unprocessed(services, seconds_ago=300)
    with services.sessions.begin() as session:
        for key, ago in (("task", 30), ("fresh", 1)):
            row = outbox.queue_sms(session, dedupe_key=key, to_phone=LIAISON_PHONE, body="请回电")
            assert row is not None
            row.created_at = utcnow() - timedelta(seconds=ago)
    _, samples = scrape(client, bearer)
    assert value(samples, "hotline_inbound_unprocessed") == 2
    assert value(samples, "hotline_inbound_unprocessed_overdue") == 1
    assert 300 <= value(samples, "hotline_inbound_unprocessed_oldest_age_seconds") < 400
    assert value(samples, "hotline_outbound_pending_overdue", traffic="task") == 1
    assert value(samples, "hotline_outbound_pending_overdue", traffic="bulk") == 0
    assert 30 <= value(samples, "hotline_outbound_pending_oldest_age_seconds", traffic="task") < 130
