"""The IVR scripts page, the audit log (admins only), the console's language, and the catalog behind every
template: no words written into a template, no key used that the catalog lacks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import audit
from dispatch.ivr.graph import arrows, title
from dispatch.ivr.script import VOICE_SCRIPT_FILE
from dispatch.models import AuditEntry, StaffRole, StaffUser
from hotline.app import create_app
from hotline.call_tree import call_tree_svg, graph_words
from hotline.console.render import CONSOLE_TEXTS, HERE
from hotline.services import Services
from hotline.settings import load_settings
from tests.conftest import PUBLIC_URL, fresh_services
from tests.console_helpers import make_user, sign_in

TEMPLATES = sorted((HERE / "templates").glob("*.html"))
GRID = "幸福里社区/第1网格"


def staff(services: Services, username: str) -> StaffUser:
    with services.readonly() as session:
        user = session.scalars(select(StaffUser).where(StaffUser.username == username)).one()
        session.expunge(user)
        return user


def language_of(services: Services, username: str) -> str:
    return staff(services, username).language


def picture(services: Services, language: str) -> str:
    """The call tree as the page draws it (Graphviz lays out the same DOT the same way every time)."""
    return call_tree_svg(services.voice_script, language, CONSOLE_TEXTS)


# ── /ivr ─────────────────────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("role", [StaffRole.ADMIN, StaffRole.CLERK, StaffRole.GRID_LEADER])
def test_every_role_sees_the_running_call_tree_and_an_all_good_check(
    client: TestClient, services: Services, community: None, role: StaffRole
) -> None:
    scope = {StaffRole.CLERK: {"community": "幸福里社区"}, StaffRole.GRID_LEADER: {"grid": GRID}}.get(role, {})
    make_user(services, "someone", role, **scope)
    sign_in(client, "someone")
    response = client.get("/ivr")
    assert response.status_code == 200
    svg = re.search(r"<svg .*?</svg>", response.text, re.S)
    assert svg is not None, "the call tree is drawn inline"
    for node in services.voice_script.nodes.values():
        assert f">{title(node, 'zh-CN')}</text>" in svg.group(0)
    assert "全部正常" in response.text
    for name in ("voice_hotline.toml", "sms_texts.toml", "menu_digits.toml"):
        assert f"<code>{name}</code>" in response.text
    assert "在服务启动后被修改过" not in response.text
    assert picture(services, "zh-CN") in response.text


def test_without_graphviz_the_page_says_so_and_lists_the_whole_menu(
    client: TestClient, services: Services, community: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user(services, "someone", StaffRole.CLERK, community="幸福里社区")
    sign_in(client, "someone")
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot on the way
    response = client.get("/ivr")
    assert response.status_code == 200 and "<svg" not in response.text
    assert "这台服务器没有安装 Graphviz" in response.text and "apt-get install graphviz" in response.text
    listed = re.search(r'<div class="ivr-outline"[^>]*>(.*?)</div>', response.text, re.S)
    assert listed is not None
    outline = listed.group(1)
    assert re.search(r"<li>\s*<b>居民来电</b>\s*<ul>\s*<li>\s*<b>居民菜单</b>", outline), "a nested list"
    for node in services.voice_script.nodes.values():
        assert f"<b>{title(node, 'zh-CN')}</b>" in outline
    words = graph_words(CONSOLE_TEXTS, "zh-CN")
    for arrow in arrows(services.voice_script, "zh-CN", words):
        assert all(key in outline for key in arrow.keys)
    assert "全部正常" in response.text  # the rest of the page is as before
    (tmp_path / "dot").write_text("#!/bin/sh\nexit 3\n", encoding="utf-8")
    (tmp_path / "dot").chmod(0o755)
    broken = client.get("/ivr")
    assert broken.status_code == 200 and "这次没能画出菜单图" in broken.text and "<b>居民菜单</b>" in broken.text


ODD_NODE = """
[node."<i>odd</i>"]
prompt = { "zh-CN" = "<script>alert(1)</script>", en = "Tom & <b>Jerry</b>" }
end = true
"""


@pytest.fixture
def odd_script(tmp_path: Path, environ: dict[str, str]) -> Iterator[tuple[TestClient, Services, Path]]:
    """The hotline running a copy of the real script with one more node, which nobody can reach (a warning, so
    the service starts) and whose name and words are markup."""
    script = tmp_path / "odd_hotline.toml"
    script.write_text(VOICE_SCRIPT_FILE.read_text(encoding="utf-8") + ODD_NODE, encoding="utf-8")
    settings = load_settings({**environ, "HOTLINE_IVR_SCRIPT": str(script)}, env_file=None)
    with fresh_services(settings) as services, TestClient(create_app(settings, services), base_url=PUBLIC_URL) as c:
        yield c, services, script


def test_script_text_is_escaped_and_its_warnings_shown(odd_script: tuple[TestClient, Services, Path]) -> None:
    client, services, _ = odd_script
    make_user(services, "admin")
    sign_in(client)
    page = client.get("/ivr").text
    assert "<i>odd</i>" not in page and "<script>alert" not in page and "<b>Jerry" not in page
    assert "&lt;i&gt;odd&lt;/i&gt;" in page and "&lt;script&gt;alert(1)" in page
    assert "全部正常" not in page
    assert re.search(r'class="warning"><b>提醒</b> node &lt;i&gt;odd&lt;/i&gt;: no caller can reach it', page)
    assert "<code>odd_hotline.toml</code>" in page and "0 个错误，1 个提醒" in page


def test_a_script_file_broken_since_the_start_shows_its_errors(odd_script: tuple[TestClient, Services, Path]) -> None:
    client, services, script = odd_script
    make_user(services, "admin")
    sign_in(client)
    script.write_text(script.read_text(encoding="utf-8").replace('resident = "resident_menu"', 'resident = "nowhere"'))
    page = client.get("/ivr").text
    assert "odd_hotline.toml 在服务启动后被修改过" in page
    assert "resident callers go to node &#39;nowhere&#39;, which does not exist" in page
    assert re.search(r"<code>odd_hotline.toml</code>\s*<span class=\"bad\">1 个错误", page)
    # The picture is still the script the service runs.
    assert picture(services, "zh-CN") in page


# ── /audit ───────────────────────────────────────────────────────────────────────────────────────────────────


def test_clerks_and_grid_leaders_may_not_read_the_audit_log(
    client: TestClient, services: Services, community: None
) -> None:
    make_user(services, "clerk", StaffRole.CLERK, community="幸福里社区")
    make_user(services, "leader", StaffRole.GRID_LEADER, grid=GRID)
    for username in ("clerk", "leader"):
        sign_in(client, username)
        for url in ("/audit", "/audit?kind=resident&object=1", f"/audit?actor=staff:{staff(services, username).id}"):
            assert client.get(url).status_code == 403
        board = client.get("/board").text
        assert 'href="/audit"' not in board and 'href="/ivr"' in board
        client.cookies.clear()


def entry_ids(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-entry="(\d+)"', page)]


def test_an_admin_reads_the_log_newest_first_filtered_and_paged(
    client: TestClient, services: Services, community: None
) -> None:
    make_user(services, "admin")
    make_user(services, "clerk", StaffRole.CLERK, community="幸福里社区")
    admin, clerk = staff(services, "admin"), staff(services, "clerk")
    start = datetime(2030, 3, 4, 1, 2, 3, tzinfo=UTC)  # 09:02:03 in Asia/Shanghai
    with services.sessions.begin() as session:
        audit.record(session, clerk, "view", "resident", 12, at=start)
        audit.record(session, admin, "assign", "task", 7, "assignee", at=start + timedelta(minutes=1))
        audit.record(session, admin, "import", "register", None, "rows 3", at=start + timedelta(minutes=2))
        for n in range(audit.AUDIT_PAGE + 2):
            audit.record(session, clerk, "view", "task", 100 + n, at=start + timedelta(minutes=3 + n))
    with services.readonly() as session:
        all_ids = list(session.scalars(select(AuditEntry.id).order_by(AuditEntry.id.desc())))
    assert len(all_ids) == audit.AUDIT_PAGE + 5
    sign_in(client)

    first = client.get("/audit")
    assert first.status_code == 200
    assert entry_ids(first.text) == all_ids[: audit.AUDIT_PAGE]
    older = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert older is not None and older.group(1) == f"/audit?before={all_ids[audit.AUDIT_PAGE - 1]}"
    second = client.get(older.group(1).replace("&amp;", "&"))
    assert entry_ids(second.text) == all_ids[audit.AUDIT_PAGE :]
    assert 'rel="next"' not in second.text and 'href="/audit">回到最新' in second.text
    assert "2030-03-04 09:02:03" in second.text and "时间（Asia/Shanghai）" in second.text
    assert '<a href="/register/residents/12">居民 #12</a>' in second.text
    assert '<a href="/tasks/7">任务 #7</a>' in second.text and "指派" in second.text and "assignee" in second.text
    assert re.search(r">\s*名册\s*</td>", second.text) and "rows 3" in second.text

    resident = client.get("/audit?kind=resident&object=12")
    assert entry_ids(resident.text) == [all_ids[-1]] and "/register/residents/12" in resident.text
    task = client.get("/audit?kind=task&object=7")
    assert entry_ids(task.text) == [all_ids[-2]]
    by_admin = client.get(f"/audit?actor=staff:{admin.id}")
    assert entry_ids(by_admin.text) == all_ids[-3:-1]
    by_clerk_on_tasks = client.get(f"/audit?actor=staff:{clerk.id}&kind=task&before={all_ids[0]}")
    assert entry_ids(by_clerk_on_tasks.text) == all_ids[1 : audit.AUDIT_PAGE + 1]
    assert 'rel="next"' in by_clerk_on_tasks.text  # one more of the clerk's task views is older still
    assert client.get("/audit?kind=notice").text.count("data-entry=") == 0
    assert "没有符合条件的记录" in client.get("/audit?kind=notice").text

    for bad in ("/audit?object=abc", "/audit?before=-3", "/audit?kind=<b>"):
        refused = client.get(bad)
        assert refused.status_code == 400 and "筛选条件不对" in refused.text and "data-entry" not in refused.text


# ── The console's language ───────────────────────────────────────────────────────────────────────────────────


def test_switching_to_english_changes_the_words_of_the_next_page(client: TestClient, services: Services) -> None:
    make_user(services, "admin")
    token = sign_in(client)
    board = client.get("/board?x=1").text
    assert '<a href="/tasks">任务</a>' in board and '<html lang="zh-CN">' in board
    assert 'action="/language"' in board and 'name="next" value="/board?x=1"' in board
    switched = client.post(
        "/language", data={"language": "en", "next": "/ivr", "csrf_token": token}, follow_redirects=False
    )
    assert switched.status_code == 303 and switched.headers["location"] == "/ivr"
    assert language_of(services, "admin") == "en"
    ivr = client.get("/ivr").text
    assert '<html lang="en">' in ivr and '<a href="/tasks">Tasks</a>' in ivr and "All good" in ivr
    assert "任务" not in ivr
    # The picture shows the caller's words in the console's language too.
    assert picture(services, "en") in ivr
    back = client.post(
        "/language", data={"language": "zh-CN", "next": "//evil.example", "csrf_token": token}, follow_redirects=False
    )
    assert back.status_code == 303 and back.headers["location"] == "/board"
    assert language_of(services, "admin") == "zh-CN"


def test_an_unknown_language_or_a_missing_csrf_token_is_refused(client: TestClient, services: Services) -> None:
    make_user(services, "admin")
    token = sign_in(client)
    for language in ("fr", "", "EN", "zh-CN "):
        refused = client.post("/language", data={"language": language, "csrf_token": token})
        assert refused.status_code == 400 and "zh-CN" in refused.text and "en" in refused.text
    assert client.post("/language", data={"language": "en"}).status_code == 403
    assert client.post("/language", data={"language": "en", "csrf_token": "x" + token}).status_code == 403
    assert language_of(services, "admin") == "zh-CN"
    assert "任务" in client.get("/board").text


# ── Every template's words come from the catalog ─────────────────────────────────────────────────────────────

JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
WORD = re.compile(r"[A-Za-z]{2,}")
ENTITY = re.compile(r"&#?\w+;")
# Attributes a person reads or hears; every other attribute (class, id, name, type, href, aria-pressed, …) is
# markup, not words.
SPOKEN_ATTRIBUTES = {"title", "placeholder", "alt", "aria-label", "aria-description", "label"}


class WordFinder(HTMLParser):
    """Words a person would read in a template whose Jinja parts have been blanked out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.words: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        kind = dict(attrs).get("type") or ""
        for name, value in attrs:
            shown = name in SPOKEN_ATTRIBUTES or (name == "value" and tag == "input" and kind in ("submit", "button"))
            if shown and value:
                self.words += WORD.findall(ENTITY.sub(" ", value))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.words += WORD.findall(ENTITY.sub(" ", data))


def test_there_are_templates_to_check() -> None:
    names = {path.name for path in TEMPLATES}
    assert {"base.html", "board.html", "ivr.html", "audit.html"} <= names


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: path.name)
def test_no_template_has_words_of_its_own(path: Path) -> None:
    source = JINJA_COMMENT.sub(" ", path.read_text(encoding="utf-8"))
    chinese = CJK.findall(source)  # anywhere, even inside {{ … }}: Chinese words belong in the catalog
    assert not chinese, f"{path.name}: Chinese text in the template: {''.join(chinese)[:40]}"
    finder = WordFinder()
    finder.feed(JINJA.sub(" ", source))
    finder.close()
    assert not finder.words, f"{path.name}: words not from the catalog: {finder.words[:10]}"


def test_the_word_finder_sees_words_in_text_and_in_read_attributes_only() -> None:
    finder = WordFinder()
    finder.feed(
        '<p class="big card">Hello {}</p><input type="submit" value="Go"><input name="q" placeholder="Find">'
        '<a href="/x" aria-label="Back" data-x="y">&nbsp;·</a><script>var words = 1;</script>'
    )
    assert finder.words == ["Hello", "Go", "Find", "Back"]


T_CALL = re.compile(r"""\bt\(\s*(["'])([^"']*)\1\s*(~|[,)])""")


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: path.name)
def test_every_key_a_template_asks_for_is_in_the_catalog(path: Path) -> None:
    keys = set(CONSOLE_TEXTS.texts["zh-CN"])
    assert set(CONSOLE_TEXTS.texts) == {"zh-CN", "en"} and keys == set(CONSOLE_TEXTS.texts["en"])
    missing = []
    for _, key, after in T_CALL.findall(path.read_text(encoding="utf-8")):
        if after == "~":  # t("board_" ~ value): some key must start so
            if not any(known.startswith(key) for known in keys):
                missing.append(key + "…")
        elif key not in keys:
            missing.append(key)
    assert not missing, f"{path.name}: keys not in the catalog: {missing}"


def test_the_key_finder_reads_literal_and_built_keys() -> None:
    found = T_CALL.findall("""{{ t("a_b") }} {{ t('c', n=1) }} {{ t("status_" ~ x) }} {{ t(error) }} {{ at("z") }}""")
    assert [(key, after) for _, key, after in found] == [("a_b", ")"), ("c", ","), ("status_", "~")]
