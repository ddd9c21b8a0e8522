"""Words, not internals: every console page and export a clerk reads, over a register with tasks in many states,
shows no event kind, enum value, actor reference (`liaison:1`), `system` or E.164 number. The denylist is built
from the code's own enums and from the event kinds the run actually wrote, so a new kind or state is covered."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select, update
from starlette.testclient import TestClient

import dispatch.models
from dispatch.models import (
    ApiToken,
    AuditEntry,
    CheckinEvent,
    InboundMessage,
    Notice,
    StaffRole,
    Task,
    TaskCategory,
    TaskEvent,
    TaskEventKind,
)
from dispatch.register.xlsx import is_xlsx, read_sheet
from dispatch.staff_accounts import add_user
from dispatch.tasks import escalation
from dispatch.tasks.event_reading import CLIMB_REASONS, Actor, read_detail
from dispatch.tasks.staff_views import HistoryItem
from hotline.console.history_words import history_lines
from hotline.console.render import CONSOLE_TEXTS
from hotline.services import Services
from tests.checkin_helpers import reply, tick
from tests.conftest import LIAISON_PHONE, Clock, at, post_signed, run_worker, sms_params
from tests.console_helpers import PASSWORD, sign_in
from tests.route_rules import PEOPLE, RULES, World, build_world, fill, keep_greeting_of

ENGLISH_LEAKS = {"normal", "system"}
ACTOR_REF = re.compile(r"\b[a-z_]{2,}:\d+\b")  # liaison:1, staff:3, rung:2, checkin:7, message:12
E164 = re.compile(r"\+\d{7,15}\b")
# The IVR page shows the voice script as its files spell it (node names such as checkin_menu, the keys a menu
# leads to): admins edit those files by those names.
SCRIPT_PAGES = {"/ivr"}
MORE_ASKS = ("再帮我买点菜", "帮我买药", "帮我取个快递", "我头晕，不舒服", "帮我倒垃圾", "儿子下周来")


def raw_words(services: Services) -> set[str]:
    """Every value of the models' enums, every event kind the code knows or wrote, and "system"."""
    found = {"system"}
    for value in vars(dispatch.models).values():
        if isinstance(value, type) and issubclass(value, enum.Enum) and value.__module__.startswith("dispatch."):
            found |= {str(member.value) for member in value if isinstance(member.value, str)}
    with services.readonly() as session:
        written = set(session.scalars(select(TaskEvent.kind).distinct()))
        found |= set(session.scalars(select(CheckinEvent.kind).distinct()))
        found |= set(session.scalars(select(AuditEntry.action).distinct()))
        found |= set(session.scalars(select(AuditEntry.object_kind).distinct()))
    assert written <= set(TaskEventKind), (
        f"event kinds written but not in TaskEventKind: {written - set(TaskEventKind)}"
    )
    return found | written


class _Text(HTMLParser):
    """What a person reads or hears of a page: its text and the labels of its controls, not scripts or styles."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        for name, value in attrs:
            if name in ("title", "aria-label", "placeholder", "alt") and value:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def readable(content: bytes, content_type: str) -> str | None:
    """The text of an answer a person reads; None for audio and the like."""
    if is_xlsx(content):
        return "\n".join("\t".join(cells) for _, cells in read_sheet(content))
    if "text/html" in content_type:
        parser = _Text()
        parser.feed(content.decode())
        return "\n".join(parser.parts)
    if "text/csv" in content_type or "text/plain" in content_type:
        return content.decode("utf-8-sig")
    return None


def internals(text: str, words: set[str], *, english: bool = False) -> list[str]:
    """The internals in `text`, each with a little of the text around it: enum values as whole words, actor
    references and E.164 numbers. In English, where "done" or "urgent" is a word, only the values no English
    sentence spells (task_created, grid_leader) and those the issue names (normal, system)."""
    patterns = [ACTOR_REF, E164]
    for word in words:
        if english and "_" not in word and word not in ENGLISH_LEAKS:
            continue
        patterns.append(re.compile(rf"(?<![A-Za-z_]){re.escape(word)}(?![A-Za-z_])"))
    found = set()
    for pattern in patterns:
        for hit in pattern.finditer(text):
            around = text[max(0, hit.start() - 20) : hit.end() + 20].replace("\n", " ")
            found.add(f"{hit.group(0)} in …{around}…")
    return sorted(found)


def _post(client: TestClient, csrf: str, url: str, **form: str) -> None:
    answer = client.post(url, data={**form, "csrf_token": csrf}, follow_redirects=False)
    assert answer.status_code == 303, (url, answer.status_code, answer.text[:300])


def _sms(client: TestClient, services: Services, phone: str, body: str) -> None:
    assert post_signed(client, services, "/twilio/sms", sms_params(body, from_phone=phone)).status_code == 200
    run_worker(services)


def lived_in(client: TestClient, services: Services, world: World) -> str:
    """Tasks made, offered, taken, done, handed back, noted, escalated, flagged, assigned, triaged, reopened,
    cancelled and made by staff; returns the signed-in admin's CSRF token."""
    resident_phone, liaison_phone = PEOPLE["mine"][1], PEOPLE["mine"][3]
    for words in MORE_ASKS:
        _sms(client, services, resident_phone, words)
    with services.sessions.begin() as session:
        # Names as people give them: build_world names its tokens "admin", "clerk_a"…, and an unknown sender's
        # words "…问other"; those are data, not internals, and would be found as such.
        session.execute(update(ApiToken).values(name="街道对接系统"))
        session.execute(update(Notice).values(created_by="API 街道对接系统"))
        session.execute(
            update(AuditEntry).where(AuditEntry.actor.like("token:%")).values(actor_name="API 街道对接系统")
        )
        for key in PEOPLE:
            session.execute(
                update(InboundMessage)
                .where(InboundMessage.body.like(f"%家属问{key}"))
                .values(body=func.replace(InboundMessage.body, f"问{key}", "问一下"))
            )
        add_user(
            session, username="liu", display_name="刘文员", password=PASSWORD, role=StaffRole.ADMIN, language="zh-CN"
        )
        mine = {
            t.category: t.id
            for t in session.scalars(select(Task).where(Task.resident_id == world.targets["mine"].resident))
        }
    csrf = sign_in(client, "liu")
    _sms(client, services, liaison_phone, f"接{mine[TaskCategory.MEDICINE]}")
    _sms(client, services, liaison_phone, f"记{mine[TaskCategory.MEDICINE]} 已联系家属")
    _sms(client, services, liaison_phone, f"完{mine[TaskCategory.PARCEL]}")
    _sms(client, services, liaison_phone, f"退{mine[TaskCategory.RUBBISH]} 今天没空")
    _sms(client, services, liaison_phone, f"{mine[TaskCategory.UNWELL]} 老人说看不清东西了")
    _post(client, csrf, f"/tasks/{mine[TaskCategory.PARCEL]}/reopen", reason="快递拿错了")
    _post(client, csrf, f"/tasks/{mine[TaskCategory.OTHER]}/triage", category="visit")
    _post(client, csrf, f"/tasks/{mine[TaskCategory.UNWELL]}/note", text="已电话联系")
    _post(client, csrf, f"/tasks/{world.targets['grid2'].task}/assign", liaison_id=str(world.targets["mine"].liaison))
    _post(client, csrf, f"/tasks/{world.targets['other'].task}/cancel", reason="家属已办")
    _post(client, csrf, f"/tasks/{mine[TaskCategory.GROCERIES]}/close", note="办好了")
    later = services.clock() + timedelta(days=2)
    with services.sessions.begin() as session:
        escalation.escalate_due_tasks(session, later, services.intake)
        escalation.flag_overdue_accepted(session, later, services.intake)
    run_worker(services)
    made = client.post(
        f"/register/residents/{world.targets['mine'].resident}/tasks",
        data={"category": "callback", "words": "邻居来电：请回电", "request_key": "k-1", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text[:300]
    run_worker(services)
    # An SMS to the liaison (the route rules text the resident, and stop the liaison): the audit log names them.
    to_liaison = {"to": "liaison", "body": "请去看看梁阿姨", "request_key": "k-liaison-1"}
    _post(client, csrf, f"/register/residents/{world.targets['mine'].resident}/sms", **to_liaison)
    # And every other form of the console once, as the route rules fill it (edits, calls, notices, channels, triage;
    # the task actions are above): what each writes in the audit log is read too.
    for key, rule in RULES.items():
        skip = ("POST /logout", "POST /language", "POST /tasks/")
        if rule.kind == "console" and key.startswith("POST ") and not key.startswith(skip):
            # Stopping a liaison passes their open errands on; the other liaison is stopped, so "mine" keeps
            # offered and taken tasks for the pages to show.
            target = world.targets["other" if key == "POST /people/liaisons/{liaison_id:id}/deactivate" else "mine"]
            _, url, body = fill(key, rule, target)
            client.post(url, data={**(body or {}), "csrf_token": csrf}, follow_redirects=False)
    keep_greeting_of(services, world.targets["mine"].liaison)  # removed above: recorded again, for its page to play
    run_worker(services)
    return csrf


def pages(client: TestClient, services: Services, world: World) -> Iterator[tuple[str, str]]:
    """Every console page and export, as the signed-in staff member, for each target; every task and resident."""
    urls: set[str] = set()
    for key, rule in RULES.items():
        if rule.kind != "console" or not key.startswith("GET "):
            continue
        for name in ("mine", "grid2", "other"):
            urls.add(fill(key, rule, world.targets[name])[1])
    with services.readonly() as session:
        urls |= {f"/tasks/{task_id}" for task_id in session.scalars(select(Task.id))}
        urls |= {f"/tasks?status={status}" for status in ("open", *dispatch.models.TaskStatus)}
    for url in sorted(urls - SCRIPT_PAGES):
        answer = client.get(url)
        assert answer.status_code in (200, 409), (url, answer.status_code, answer.text[:300])  # 409: done already
        text = readable(answer.content, answer.headers.get("content-type", ""))
        if text is not None:
            yield url, text


def refused(client: TestClient, csrf: str, world: World) -> Iterator[tuple[str, str]]:
    """The pages that say an action was refused: closing a cancelled task, sorting a sorted one, reopening an open
    one, making a task without words."""
    cancelled, mine = world.targets["other"].task, world.targets["mine"]
    asks = {
        f"/tasks/{cancelled}/close": {"note": "x"},
        f"/tasks/{cancelled}/triage": {"category": "medicine"},
        f"/tasks/{world.targets['grid2'].task}/reopen": {"reason": "x"},
        f"/register/residents/{mine.resident}/tasks": {"category": "groceries", "words": "", "request_key": "k-2"},
    }
    for url, form in asks.items():
        answer = client.post(url, data={**form, "csrf_token": csrf}, follow_redirects=False)
        assert answer.status_code in (409, 422), (url, answer.status_code)
        text = readable(answer.content, answer.headers["content-type"])
        assert text is not None and 'role="alert"' in answer.text
        yield f"POST {url}", text


@pytest.fixture
def world(client: TestClient, services: Services) -> World:
    return build_world(client, services)


def test_no_page_a_clerk_reads_shows_internals(client: TestClient, services: Services, world: World) -> None:
    csrf = lived_in(client, services, world)
    words = raw_words(services)
    with services.readonly() as session:
        kinds = set(session.scalars(select(TaskEvent.kind).distinct()))
        statuses = set(session.scalars(select(Task.status).distinct()))
    assert kinds >= {"created", "offered", "accepted", "done", "declined", "note", "escalated", "flagged"}
    assert kinds >= {"assigned", "cancelled", "reopened", "triaged", "added"} and len(statuses) >= 5, statuses
    assert statuses >= {"offered", "accepted", "done", "escalated", "cancelled"}, statuses
    seen = dict(pages(client, services, world)) | dict(refused(client, csrf, world))
    found = {url: shown for url, text in seen.items() if (shown := internals(text, words))}
    assert not found, f"pages in zh-CN show internals: {found}"
    # And they say it: a history in sentences naming people by role and name, numbers as people dial them.
    history = seen[f"/tasks/{world.targets['grid2'].task}"]
    # The route rules rename the target's resident and liaison (张敏 is 改过的联络员 by now); people read as named now.
    for said in (
        "居民王大爷提出需求（一般）",
        "热线用短信把任务派给联络员李强",
        "工作人员刘文员把任务派给联络员改过的联络员",
    ):
        assert said in history, said
    assert "联络员李强（139 1234 5679）" in history and "没有人按时接单，热线把任务升级给工作人员" in history
    assert "已经是“已取消”" in seen[f"POST /tasks/{world.targets['other'].task}/close"]
    assert "管理员（命令行）" in seen["/audit"] and "command line" not in seen["/audit"]
    assert "发给居民改过的名字，1 条短信" in seen["/audit"] and "发给联络员改过的联络员，1 条短信" in seen["/audit"]
    _post(client, csrf, "/language", language="en")
    found = {
        url: shown for url, text in pages(client, services, world) if (shown := internals(text, words, english=True))
    }
    assert not found, f"pages in English show internals: {found}"


def test_a_day_of_check_ins_reads_in_words(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    """Check-ins of every outcome, a landline's call, visits for those who never answered (made by the hotline),
    and a task left undone past the day: the board, the reports, every task and every resident in words."""
    with services.sessions.begin() as session:
        add_user(session, username="liu", display_name="刘文员", password=PASSWORD, role=StaffRole.ADMIN)
    tick(services, clock, "08:00")
    tick(services, clock, "09:00")
    for hhmm, name, body in (("09:05", "梁阿姨", "1"), ("09:06", "王大爷", "买药"), ("09:07", "刘奶奶", "发烧38.5度")):
        reply(client, services, clock, hhmm, name, body)
    tick(services, clock, "11:00")
    tick(services, clock, "12:00")
    reply(client, services, clock, "12:20", "陈伯", "36.5")
    with services.readonly() as session:
        medicine = session.scalar(select(Task.id).where(Task.resident_id == town["王大爷"]))
    reply_from_liaison = sms_params(f"接{medicine}", from_phone=LIAISON_PHONE)
    assert post_signed(client, services, "/twilio/sms", reply_from_liaison).status_code == 200
    run_worker(services)
    tick(services, clock, "20:00")
    with services.sessions.begin() as session:  # the sweeper, after the done-by time and the offers' deadlines
        escalation.flag_overdue_accepted(session, clock.now, services.intake)
        escalation.escalate_due_tasks(session, clock.now, services.intake)
    run_worker(services)
    sign_in(client, "liu")
    words = raw_words(services)
    with services.readonly() as session:
        kinds = set(session.scalars(select(TaskEvent.kind).distinct()))
        urls = {f"/tasks/{task_id}" for task_id in session.scalars(select(Task.id))}
    assert {"created", "offered", "accepted", "flagged"} <= kinds, kinds
    urls |= {f"/register/residents/{resident_id}" for resident_id in town.values()}
    urls |= {
        key[4:] for key, rule in RULES.items() if key.startswith("GET ") and rule.kind == "console" and not rule.names
    }
    urls |= {"/board", "/tasks", "/reports", "/reports.csv", "/register", "/register/export.csv", "/calls", "/audit"}
    urls -= SCRIPT_PAGES
    urls = {url for url in urls if "{" not in url and not url.startswith("/simulator")}
    found = {}
    for url in sorted(urls):
        answer = client.get(url)
        assert answer.status_code == 200, (url, answer.status_code)
        text = readable(answer.content, answer.headers.get("content-type", ""))
        if text is not None and (shown := internals(text, words)):
            found[url] = shown
    assert not found, f"pages in zh-CN show internals: {found}"


SAMPLE_DETAILS = {  # each kind's detail as the code writes it
    "created": ["normal", "urgent; made by staff", "urgent; checkin:7 no answer"],
    "added": ["message:12", "checkin:7 no answer"],
    "offered": ["liaison:1"],
    "assigned": ["liaison:1"],
    "linked": ["resident:1", "household:4"],
    "escalated": [
        *(f"rung:{rung} {reason}" for rung, reason in enumerate(CLIMB_REASONS, start=1)),
        "rung:3 not taken in time; nobody to reach",
        "rung:3 no household; nobody to reach",
    ],
    "flagged": ["她说明天再说", "not done by 2030-03-04T20:00+08:00"],
    "triaged": ["other→medicine"],
}


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_every_event_kind_and_reason_reads_as_a_sentence(language: str, services: Services) -> None:
    """Every kind in TaskEventKind, by every kind of actor, with each detail the code writes (every reason to
    climb), is a sentence in both languages that names no internal."""
    words = raw_words(services)

    def t(key: str, **fields: object) -> str:
        return CONSOLE_TEXTS.render(key, language, **fields)

    def category(value: str) -> str:
        return services.catalog.render(f"category_{value}", language)

    actors = [Actor("resident", "梁阿姨"), Actor("liaison", "张敏"), Actor("staff", "刘文员"), Actor("token", "街道")]
    actors += [Actor(role) for role in ("hotline", "caller", "command_line", "someone", "household")]
    for kind in TaskEventKind:
        for detail in SAMPLE_DETAILS.get(kind, ["办好了"]):
            facts, ref = read_detail(kind, detail)
            facts = replace(facts, person=Actor("liaison", "李强")) if ref else facts
            for who in actors:
                item = HistoryItem(at("12:00"), "event", kind, "x", "sms", detail, actor=who, facts=facts)
                [line] = history_lines([item], t, category, lambda m: m.strftime("%m-%d %H:%M"))
                shown = internals(line.sentence, words, english=language == "en")
                assert not shown and line.sentence != kind, (kind, detail, line.sentence, shown)
                if who.name:
                    assert who.name in line.sentence or kind not in ("accepted", "done", "note", "cancelled")
