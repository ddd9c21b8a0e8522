"""The notes a liaison may read about a task they hold, sent by SMS when they ask (备注12, notes 12).

Staff notes are for staff unless the writer ticked "the liaison may read it" (`TaskEvent.for_liaison`): a clerk
writes for colleagues, and a note may hold what a volunteer should not read (a diagnosis, a family quarrel, another
household's trouble). Liaisons' own notes by SMS are theirs already, and are not sent back.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models import Task, TaskEvent
from dispatch.segments import fit_segments
from dispatch.texts import MessageCatalog

NOTES_SENT = 3  # the newest this many, newest first: one short SMS a liaison reads on the move
MAX_SEGMENTS = 2


def shared_notes(session: Session, task: Task) -> list[str]:
    """The texts of the task's notes the liaison may read, newest first, at most NOTES_SENT."""
    query = (
        select(TaskEvent.detail)
        .where(TaskEvent.task_id == task.id, TaskEvent.kind == "note", TaskEvent.for_liaison)
        .order_by(TaskEvent.id.desc())
        .limit(NOTES_SENT)
    )
    return [text for text in session.scalars(query) if text.strip()]


def notes_text(session: Session, task: Task, catalog: MessageCatalog, language: str) -> str:
    """The SMS answering a liaison's request for the task's notes: numbered, newest first, at most 2 segments
    (the notes come last, so cutting only shortens the oldest); or that there are none for them."""
    notes = shared_notes(session, task)
    if not notes:
        return catalog.render("liaison_notes_none", language, task_id=task.id)
    listed = " ".join(f"{n}.{' '.join(text.split())}" for n, text in enumerate(notes, start=1))
    return fit_segments(catalog.render("liaison_notes", language, task_id=task.id, notes=listed), MAX_SEGMENTS)
