"""A task's circle: everyone it has been offered to, or staff alerted about it, while nobody has taken it.

Climbing the ladder widens the circle; it never takes an offer back. While the task is untaken, any liaison in
its circle may take it. The first to do so wins: taking locks the task's row and checks it is still untaken, so
two replies at once cannot both take it (the second finds it taken). Everyone else in the circle is then told
who took it, once each (dedupe key `task:<id>:taken:<offer id>`). Staff withdraw the circle when they assign the
task to someone themselves.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, delete, exists, select
from sqlalchemy.orm import Session

from dispatch.db import insert_skipping_duplicates
from dispatch.models import Liaison, Task, TaskOffer, TaskStatus
from dispatch.outbox import queue_sms
from dispatch.texts import MessageCatalog


def widen(session: Session, task: Task, phone: str, rung: int, now: datetime, liaison: Liaison | None = None) -> None:
    """Add `phone` (a liaison's, or staff's with `liaison` None) to the task's circle; once per phone."""
    session.flush()  # the task has its id
    row = {
        "task_id": task.id,
        "liaison_id": liaison.id if liaison else None,
        "phone": phone,
        "rung": rung,
        "offered_at": now,
    }
    session.execute(insert_skipping_duplicates(session, TaskOffer), [row])


def widen_many(session: Session, offers: list[tuple[Task, str, int, datetime, Liaison | None]]) -> None:
    """`widen` for many tasks (task, phone, rung, now, liaison), flushed already, in one statement."""
    rows = [
        {"task_id": t.id, "liaison_id": who.id if who else None, "phone": phone, "rung": rung, "offered_at": at}
        for t, phone, rung, at, who in offers
    ]
    if rows:
        session.execute(insert_skipping_duplicates(session, TaskOffer), rows)


def in_circle(liaison_id: int) -> ColumnElement[bool]:
    """A filter on Task: `liaison_id` is in the task's circle."""
    return exists().where(TaskOffer.task_id == Task.id, TaskOffer.liaison_id == liaison_id)


def offered_to(session: Session, task: Task, liaison: Liaison) -> bool:
    """True if `task` was offered to `liaison` (at its rung now or an earlier one) and not withdrawn."""
    found = session.scalar(select(TaskOffer.id).where(TaskOffer.task_id == task.id, TaskOffer.liaison_id == liaison.id))
    return found is not None


def may_take(session: Session, task: Task, liaison: Liaison) -> bool:
    """True if `liaison` may take `task` now: it is untaken, and it is theirs or was offered to them. The caller
    holds the task's row lock, so the answer stays true until it commits."""
    if task.status not in TaskStatus.takeable():
        return False
    return task.assignee_liaison_id == liaison.id or offered_to(session, task, liaison)


def withdraw(session: Session, task: Task) -> list[Liaison]:
    """Empty the circle (staff chose someone else): returns the liaisons who had been offered it."""
    liaisons = list(
        session.scalars(
            select(Liaison).join(TaskOffer, TaskOffer.liaison_id == Liaison.id).where(TaskOffer.task_id == task.id)
        )
    )
    session.execute(delete(TaskOffer).where(TaskOffer.task_id == task.id))
    return liaisons


def tell_taken(session: Session, task: Task, taker: Liaison, catalog: MessageCatalog, language: str) -> list[int]:
    """Tell everyone else in the circle that `taker` took the task, so nobody else sets off. Returns SMS ids."""
    offers = session.scalars(select(TaskOffer).where(TaskOffer.task_id == task.id).order_by(TaskOffer.id)).all()
    body = catalog.render(
        "task_taken_by_other",
        language,
        task_id=task.id,
        category=catalog.render(f"category_{task.category}", language),
        liaison_name=taker.name,
    )
    outbound = []
    for offer in offers:
        if offer.phone == taker.phone or offer.liaison_id == taker.id:
            continue
        sms = queue_sms(
            session, dedupe_key=f"task:{task.id}:taken:{offer.id}", to_phone=offer.phone, body=body, task_id=task.id
        )
        outbound += [sms.id] if sms else []
    return outbound
