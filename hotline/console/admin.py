"""The IVR scripts page, the audit log (admins only), and each account's console language.

`/ivr` draws the call tree the service is running (`hotline ivr graph`, laid out by Graphviz; without it, the
tree as a nested list) and shows what `hotline ivr check` finds, both in the running script and in the files on
disk, which the next start will read. `/audit` reads the audit log, newest first, by object and by actor.
`POST /language` sets the signed-in account's console language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from dispatch import audit
from dispatch.exceptions import DispatchError
from dispatch.ivr.check import Problem, check_script
from dispatch.ivr.graph import outline
from dispatch.ivr.script import LANGUAGES, load_script
from dispatch.models import AuditEntry, StaffRole, StaffUser
from dispatch.staff_accounts import set_console_language
from dispatch.tokens import CLI
from hotline.call_tree import NoPicture, call_tree_svg, graph_words
from hotline.cli.ivr import check_path
from hotline.console.auth import staff_only
from hotline.console.detail_words import detail_in_words, people_named, value_words
from hotline.console.pages import _safe_next
from hotline.console.params import as_id
from hotline.console.render import CONSOLE_TEXTS, page
from hotline.services import Services
from ivr_scripts import SCRIPTS_DIR

CONSOLE_LANGUAGES = ("zh-CN", "en")
# Kinds of object the console records, offered in the filter (others recorded later still show and filter).
AUDIT_KINDS = (
    "resident",
    "task",
    "notice",
    "call",
    "register",
    "liaison",
    "staff",
    "token",
    "community",
    "grid",
    "directory",
)
# Where each kind of object has its own page.
OBJECT_PAGES = {"resident": "/register/residents/{id}", "task": "/tasks/{id}", "notice": "/notices/{id}"}
_KIND = re.compile(r"^[a-z_]{1,16}$")


def labeller(language: str) -> Callable[[str, str], str]:
    """`label(prefix, value)`: the catalog's word for `prefix + value` in `language`, or the value itself when the
    catalog has none (an action or kind recorded by code newer than this page still shows)."""

    def label(prefix: str, value: str) -> str:
        key = prefix + value
        return CONSOLE_TEXTS.render(key, language) if key in CONSOLE_TEXTS.texts["zh-CN"] else value

    return label


# ── The IVR scripts page ─────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class FileCheck:
    """What `hotline ivr check` says of one file."""

    name: str
    problems: list[Problem]

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p.error)


def script_files(running: Path) -> list[Path]:
    """The files `hotline ivr check` reads by default, and the running script's file if it lives elsewhere."""
    files = sorted(SCRIPTS_DIR.glob("*.toml"))
    if running.resolve() not in {path.resolve() for path in files}:
        files.append(running)
    return files


def ivr_report(services: Services, language: str) -> dict[str, Any]:
    """The running script's picture and problems, and the problems of every script file on disk."""
    script = services.voice_script
    replies = services.intake.replies
    running_path = services.settings.ivr_script
    try:
        changed = load_script(running_path, replies) != script
    except DispatchError:  # unreadable or misshapen now: the file on disk is not what runs
        changed = True
    files = [FileCheck(path.name, check_path(path)) for path in script_files(running_path)]
    running = check_script(script, replies)
    try:
        # Graphviz writes every text of the SVG escaped (the script's titles, prompts and key words, given to it
        # as DOT strings and HTML-like labels escaped by dispatch.ivr.graph); the rest is its own markup.
        svg, no_picture = Markup(call_tree_svg(script, language, CONSOLE_TEXTS)), ""  # noqa: S704
    except NoPicture as exc:
        svg, no_picture = Markup(""), exc.reason
    return {
        "svg": svg,
        "no_picture": no_picture,
        "outline": outline(script, language, graph_words(CONSOLE_TEXTS, language)),
        "running": running,
        "files": files,
        "changed": changed,
        "script_name": running_path.name,
        "all_good": not running and not any(f.problems for f in files),
    }


@staff_only()
async def ivr_page(request: Request) -> Response:
    """The call tree of the running voice script and the checker's findings. Any staff role may read it."""
    services: Services = request.app.state.services
    user: StaffUser = request.state.user
    language = user.language if user.language in LANGUAGES else "zh-CN"
    report = await run_in_threadpool(ivr_report, services, language)
    return page(request, "ivr.html", user, **report)


# ── The audit log ────────────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class AuditQuery:
    """The audit page's filters, read from the query string."""

    kind: str | None = None
    object_id: int | None = None
    actor: str | None = None
    before_id: int | None = None

    def url(self, **changes: object) -> str:
        """The page's URL with these filters, changed as given (None drops one)."""
        values: dict[str, object] = {"kind": self.kind, "object": self.object_id, "actor": self.actor}
        values["before"] = self.before_id
        values.update(changes)
        query = urlencode({k: v for k, v in values.items() if v is not None})
        return "/audit" + (f"?{query}" if query else "")


def _whole(value: str | None) -> int | None:
    """A positive whole number from the query string; ValueError for anything else but nothing."""
    if value is None or value.strip() == "":
        return None
    found = as_id(value)
    if found is None:
        raise ValueError(value)
    return found


def audit_query(params: dict[str, str]) -> AuditQuery:
    """Read the filters. Raises ValueError on an id that is not a whole number or a malformed kind or actor."""
    kind = params.get("kind", "").strip() or None
    actor = params.get("actor", "").strip() or None
    if kind is not None and not _KIND.match(kind):
        raise ValueError(kind)
    if actor is not None and len(actor) > 64:
        raise ValueError(actor)
    return AuditQuery(kind, _whole(params.get("object")), actor, _whole(params.get("before")))


def actors(services: Services) -> list[tuple[str, str]]:
    """Everyone who can appear in the log, as (audit ref, name): staff accounts, then API tokens."""
    with services.readonly() as session:
        return audit.actors(session)


def audit_page_data(services: Services, query: AuditQuery) -> dict[str, Any]:
    """One page of entries for `query`, and the link to the next older page if there is one."""
    with services.readonly() as session:
        found = audit.entries(
            session,
            object_kind=query.kind,
            object_id=query.object_id,
            actor=query.actor,
            before_id=query.before_id,
            limit=audit.AUDIT_PAGE + 1,
        )
        shown: list[AuditEntry] = found[: audit.AUDIT_PAGE]
        people = people_named(session, (entry.detail for entry in shown))
        session.expunge_all()
    older = query.url(before=shown[-1].id) if len(found) > audit.AUDIT_PAGE else None
    return {"entries": shown, "older": older, "actors": actors(services), "people": people}


def object_page(kind: str, object_id: int | None) -> str | None:
    """The console page of one object, if its kind has one."""
    pattern = OBJECT_PAGES.get(kind)
    return pattern.format(id=object_id) if pattern and object_id is not None else None


@staff_only(StaffRole.ADMIN)
async def audit_page(request: Request) -> Response:
    """Who viewed or changed which resident, task or notice, and when: newest first, filtered, paged."""
    services: Services = request.app.state.services
    user: StaffUser = request.state.user
    context: dict[str, Any] = {
        "kinds": AUDIT_KINDS,
        "label": labeller(user.language),
        "object_page": object_page,
        "zone": services.settings.timezone.key,
    }
    try:
        query = audit_query(dict(request.query_params))
    except ValueError:
        context.update(entries=[], older=None, actors=await run_in_threadpool(actors, services))
        return page(request, "audit.html", user, status_code=400, query=AuditQuery(), bad=True, **context)
    data = await run_in_threadpool(audit_page_data, services, query)
    language = user.language

    def t(key: str, **fields: object) -> str:
        return CONSOLE_TEXTS.render(key, language, **fields)

    words, people = value_words(t, services.catalog, language), data.pop("people")
    context["in_words"] = lambda detail: detail_in_words(detail, t, people, words)
    # Tokens made or revoked from the command line are recorded under its English name ("command line").
    context["actor_words"] = lambda ref, name: t("history_actor_command_line") if ref == CLI.audit_ref else name
    return page(request, "audit.html", user, query=query, bad=False, **context, **data)


# ── The console's language ───────────────────────────────────────────────────────────────────────────────────


@staff_only()
async def set_language(request: Request) -> Response:
    """Store the account's console language ("zh-CN" or "en"), then go back to the page it was set on."""
    services: Services = request.app.state.services
    user: StaffUser = request.state.user
    form = await request.form()
    language = str(form.get("language", ""))
    if language not in CONSOLE_LANGUAGES:
        return PlainTextResponse(CONSOLE_TEXTS.render("language_unknown", user.language), status_code=400)

    def save() -> None:
        with services.sessions.begin() as session:
            set_console_language(session, user.id, language)

    await run_in_threadpool(save)
    return RedirectResponse(_safe_next(str(form.get("next", ""))), status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/ivr", ivr_page),
    Route("/audit", audit_page),
    Route("/language", set_language, methods=["POST"]),
]
