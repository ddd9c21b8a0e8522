"""What a batch of call steps writes at once: the new `calls` rows and the needs stored, each table in one
executemany INSERT however many steps made rows (`hotline.webhooks.voice_hotline` writes them after a batch's
steps, before its commit).

In a batch, `start_call` and `store_call_need` make their records without adding them to the session
(`keep_for_batch`); `write_batch` inserts them. The ORM would insert them one INSERT each, since it reads each new
row's id back (SQLite gives no order for the ids of a many-row INSERT ... RETURNING). A call's row is found by its
CallSid, never by its id, so its id is not read back; a need's id is (it is queued for intake after the commit), in
one SELECT by the needs' keys. Values are taken as the ORM would: a column left unset, or None where the column has
a default, gets its default.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Insert, Select, bindparam, insert, select
from sqlalchemy.orm import Session

from dispatch.models import Call, InboundMessage

NEW_ROWS = "voice_new_rows"  # Session.info: records made by a batch's steps, not yet inserted


def keep_for_batch(session: Session, record: Call | InboundMessage) -> None:
    """`record` (not added to the session) is inserted with the batch's others by `write_batch`."""
    session.info.setdefault(NEW_ROWS, []).append(record)


def forget_batch(session: Session) -> None:
    """A step was rolled back: the records kept since the last `write_batch` are not to be inserted."""
    session.info.pop(NEW_ROWS, None)


def write_batch(session: Session) -> None:
    """Insert the records the batch's steps kept: one executemany INSERT per table (and per set of columns
    given), after the session's pending changes, then the new needs' ids in one SELECT."""
    records: list[Call | InboundMessage] = session.info.pop(NEW_ROWS, [])
    if not records:
        return
    session.flush()  # the changes to records already stored first: the batch's writes run together
    connection = session.connection()
    for model in (Call, InboundMessage):
        of_model = [r for r in records if isinstance(r, model)]
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for record in of_model:
            row = _values(record)
            by_columns.setdefault(tuple(sorted(row)), []).append(row)
        for rows in by_columns.values():
            connection.execute(_insert(model), rows)
    needs = {m.provider_sid: m for m in records if isinstance(m, InboundMessage)}
    if needs:
        for key, id_ in connection.execute(_ids_of_needs(), {"keys": sorted(needs)}):
            needs[key].id = id_


@lru_cache(maxsize=2)
def _insert(model: type[Call] | type[InboundMessage]) -> Insert:
    """An INSERT into `model`'s table; built once."""
    return insert(model)


@lru_cache(maxsize=1)
def _ids_of_needs() -> Select[Any]:
    """The keys and ids of the needs of the keys `keys` (an expanding bind parameter); built once."""
    table = InboundMessage.__table__
    return select(table.c.provider_sid, table.c.id).where(table.c.provider_sid.in_(bindparam("keys", expanding=True)))


def _values(record: Call | InboundMessage) -> dict[str, Any]:
    """The record's column values as an INSERT takes them: those set, except None where the column has a
    default (the ORM's rule)."""
    values = {}
    for attr in type(record).__mapper__.column_attrs:
        column = attr.columns[0]
        if attr.key not in record.__dict__ or column.primary_key:
            continue
        value = record.__dict__[attr.key]
        if value is None and (column.default is not None or column.server_default is not None):
            continue
        values[column.key] = value
    return values
