"""What a request names: the objects a route's path, query and body are aimed at, the request made from a rule,
and what "nothing was stored" is checked against."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, inspect, select, table
from starlette.testclient import TestClient

from dispatch.phones import national_format
from hotline.services import Services

if TYPE_CHECKING:
    from tests.route_rules import Rule


@dataclass(frozen=True)
class Target:
    task: int
    resident: int
    notice: int
    phone: str
    liaison: int
    grid: str
    sid: str
    voicemail: int = 999_999  # the message on the task that carries its voicemail
    triage: int = 999_999  # a triage item (an unknown number's messages); none unless a test makes one
    triage_voicemail: int = 999_999  # the message on the item that carries a voicemail
    community: int = 999_999  # a community (its channels: an admin's choice, in nobody's scope)
    contact: int = 999_999  # a family contact in the resident's care circle
    grid_id: int = 999_999  # the grid of the target's household (where a new liaison is placed)
    medicine: int = 999_999  # a medicine of the target resident's
    words: tuple[str, ...] = ()  # what shows this target: names, numbers, texts

    @property
    def national(self) -> str:
        return self.phone.removeprefix("+86")


def fill(key: str, rule: Rule, t: Target) -> tuple[str, str, dict[str, Any] | None]:
    """The method, URL and body of a request by `rule` naming `t`."""
    method, path = key.split(" ", 1)
    ids = {"task": t.task, "resident": t.resident, "notice": t.notice, "triage": t.triage, "community": t.community}
    ids["liaison"], ids["medicine"] = t.liaison, t.medicine
    names = r"\{(task_id|resident_id|notice_id|triage_id|community_id|liaison_id|medicine_id)(:id)?\}"
    path = re.sub(names, lambda m: str(ids[m.group(1)[:-3]]), path)
    path = path.replace("{id}", str(ids.get(rule.names, t.task))).replace("{sid}", t.sid)
    path = re.sub(r"\{contact(_id:id)?\}", str(t.contact), path)
    voicemail = t.triage_voicemail if rule.names == "triage" else t.voicemail
    path = re.sub(r"\{message_id(:id)?\}", str(voicemail), path)
    path = re.sub(r"\{[a-z]+_id:id\}", "999999", path)  # what no target names (a staff account, a token): none
    query = rule.query(t) if rule.query else ""
    return method, path + (f"?{query}" if query else ""), rule.body(t) if rule.body else None


def send(client: TestClient, key: str, rule: Rule, t: Target, **headers: str) -> Any:
    """Make the request; console bodies go as forms, simulator and API bodies as JSON."""
    method, url, body = fill(key, rule, t)
    as_form = rule.kind in ("console", "public", "twilio")
    if rule.kind == "api" and method == "POST":  # a request of its own each time (POST /api/v1/tasks needs one)
        headers = {"Idempotency-Key": uuid.uuid4().hex, **headers}
    return client.request(
        method,
        url,
        data=body if as_form else None,
        json=None if as_form else body,
        headers=headers,
        follow_redirects=False,
    )


def row_counts(services: Services) -> dict[str, int]:
    """Rows in every table, and keys in Redis: what "nothing was stored" is checked against."""
    names = inspect(services.engine).get_table_names()  # the tables as migrated, not as the models say
    with services.readonly() as session:
        counts = {name: session.scalar(select(func.count()).select_from(table(name))) or 0 for name in names}
    counts["redis keys"] = services.redis.dbsize()
    return counts


def phone_forms(phone: str) -> set[str]:
    """A number as it might be written: E.164, without the +, national, national spaced or dashed."""
    national = phone.removeprefix("+86")
    spaced = national_format(phone)
    return {phone, phone[1:], national, spaced, spaced.replace(" ", "-")}
