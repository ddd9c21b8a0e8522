"""A double submit of the console's people forms, both requests at the same moment, changes things once: one
token for one form key, one directory entry, one liaison (and no error for the second). On PostgreSQL each
request's INSERT waits for the other to reach its own, so both have read "not there yet" before either writes,
unless the writes are serialised."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import event, func, select

from dispatch import register
from dispatch.models import ApiToken, DirectoryEntry, Liaison, StaffRole, StaffUser
from dispatch.register import liaison_admin
from dispatch.register.liaison_admin import LiaisonForm, add_managed_liaison
from dispatch.register.places_admin import add_entry
from dispatch.staff_admin import make_token
from dispatch.tokens import made_for_request
from hotline.services import Services
from tests.console_helpers import make_user

T = TypeVar("T")


@contextmanager
def inserts_meet(services: Services, table: str) -> Iterator[None]:
    """On PostgreSQL, hold each INSERT into `table` until the other request reaches its own (a bounded wait: a
    request serialised behind the first never gets there, and the first goes on alone)."""
    meeting = threading.Barrier(2)

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith(f"INSERT INTO {table} "):
            with suppress(threading.BrokenBarrierError):
                meeting.wait(timeout=3)

    postgres = services.engine.dialect.name == "postgresql"
    if postgres:
        event.listen(services.engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        if postgres:
            event.remove(services.engine, "before_cursor_execute", before)


def twice_at_once(services: Services, table: str, act: Callable[[Any], T]) -> list[T]:
    """Run `act(session)` in two transactions at the same moment; both must succeed."""
    results: list[T] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            start.wait(10)
            with services.sessions.begin() as session:
                results.append(act(session))
        except Exception as exc:  # reported below, with the other thread's result
            errors.append(exc)

    with inserts_meet(services, table):
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert errors == [] and len(results) == 2, errors
    return results


def admin(session: Any) -> StaffUser:
    return session.scalars(select(StaffUser).where(StaffUser.username == "admin")).one()


def test_one_token_for_one_form_key_sent_twice_at_once(services: Services) -> None:
    make_user(services, "admin", StaffRole.ADMIN)
    key = "form-key-0123456789"

    def make(session: Any) -> tuple[int, bool]:
        token, secret = make_token(
            session, admin(session), request_key=key, name="区里的系统", role="admin", lifetime=timedelta(days=30)
        )
        return token.id, secret is not None

    made = twice_at_once(services, "api_tokens", make)
    assert sorted(shown for _, shown in made) == [False, True]  # the secret shown once
    assert len({token_id for token_id, _ in made}) == 1
    with services.readonly() as session:
        assert session.scalar(select(func.count()).select_from(ApiToken)) == 1
        # The key is matched exactly: "_" is no wildcard, a key that only looks alike finds nothing.
        assert made_for_request(session, "form_key_0123456789") is None
        assert made_for_request(session, "key-0123456789") is None
        assert made_for_request(session, key) is not None


def test_one_directory_entry_for_the_same_number_added_twice_at_once(services: Services) -> None:
    make_user(services, "admin", StaffRole.ADMIN)
    with services.sessions.begin() as session:
        community_id = register.find_or_create_community(session, "幸福里社区").id

    def add(session: Any) -> int:
        return add_entry(session, admin(session), community_id, "pharmacy", "老百姓大药房", "0371-66880000", "CN").id

    added = twice_at_once(services, "directory_entries", add)
    assert len(set(added)) == 1
    with services.readonly() as session:
        assert session.scalar(select(func.count()).select_from(DirectoryEntry)) == 1


@pytest.mark.parametrize("serialised", [True, False], ids=["serialised", "unique_number_only"])
def test_one_liaison_for_the_same_one_added_twice_at_once(
    services: Services, monkeypatch: pytest.MonkeyPatch, serialised: bool
) -> None:
    """Serialised, the second add finds the first; without the lock the number's unique key stops the second,
    which reads the first's liaison again and answers as a repeat, not with an error."""
    if not serialised:
        monkeypatch.setattr(liaison_admin, "serialise", lambda session, name: None)
    make_user(services, "admin", StaffRole.ADMIN)
    form = LiaisonForm(name="张敏", phone="13912345678", grid_id=None)

    def add(session: Any) -> int:
        me = admin(session)
        return add_managed_liaison(session, me, me, form, "CN").id

    added = twice_at_once(services, "liaisons", add)
    assert len(set(added)) == 1
    with services.readonly() as session:
        assert session.scalar(select(func.count()).select_from(Liaison)) == 1
