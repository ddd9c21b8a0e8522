"""The errands the demo's past tells on purpose, so that a task stands in every state the board shows, and others
went through reopening, handing back and an alarm with no household."""

from __future__ import annotations

import functools
import itertools
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import demo_people as people
from dispatch.demo_history.cast import STEP, Past
from dispatch.models import (
    Task,
    TaskOffer,
    TaskStatus,
)


def tell_stories(history: Past, now: datetime, today: date) -> None:
    """The tasks told on purpose: every state a task stands in, and the steps between, are in the past."""
    take = people.OfferAnswer  # shorthand
    pick = itertools.cycle(history.tellers or [""])  # a tiny register: fewer tellers, or none
    yesterday = today - timedelta(days=1)
    # Offered minutes ago: nobody has answered yet.
    history.text(now - timedelta(minutes=12), next(pick), "帮我买点菜", people.Story())
    # Taken yesterday afternoon and still not done: flagged in the evening.
    unfinished = people.Story({"offer:0": take("take", STEP)})
    history.text(history.local(yesterday, "15:00"), next(pick), "降压药吃完了，帮忙买药", unfinished)
    # Urgent, and nobody took it: up the backup liaison, the grid leader and duty staff.
    history.text(now - timedelta(minutes=100), next(pick), "今天不大舒服", people.Story())
    # Handed back by the liaison, then taken and done by the backup.
    handed = people.Story({"offer:0": take("decline", STEP * 3), "offer:1": take("take", STEP * 2, STEP * 9)})
    history.text(history.local(today - timedelta(days=2), "10:00"), next(pick), "有个快递帮我取一下", handed)
    # Cancelled by staff: the family saw to it.
    cancelled = people.Story(staff=[(STEP * 6, "cancel")])
    history.text(history.local(today - timedelta(days=3), "14:00"), next(pick), "帮我买点菜", cancelled)
    # Done, then reopened: the wrong medicine; done again.
    redo = people.Story({"offer:0": take("take", STEP, STEP * 12), "reopen": take("take", STEP, STEP * 8)})
    redo.staff.append((timedelta(hours=3), "reopen"))
    history.text(history.local(today - timedelta(days=4), "10:00"), next(pick), "降压药吃完了，帮忙买药", redo)
    # A liaison's alarm with no task to put it on: a task with no household, for duty staff, who close it.
    history.at(history.local(today - timedelta(days=5), "07:40"), functools.partial(alarm, history))


def alarm(history: Past, session: Session, now: datetime) -> None:
    """A liaison with no task in play texts a sign of danger (with one, it would go on that task)."""
    in_play = Task.status.in_(TaskStatus.open())
    busy = set(session.scalars(select(Task.assignee_liaison_id).where(in_play)))
    busy |= set(session.scalars(select(TaskOffer.liaison_id).join(Task, Task.id == TaskOffer.task_id).where(in_play)))
    phone = next(phone for phone, liaison in sorted(history.liaisons.items()) if liaison not in busy)
    history.inbox.append((history.sid("SM"), phone, people.DANGER_WORDS))
