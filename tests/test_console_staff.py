"""Staff accounts and API tokens in the console (`/people/staff`, `/people/tokens`): admins only, audited, and a
second click changes nothing."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import ApiToken, AuditEntry, StaffRole, StaffUser
from hotline.app import create_app
from hotline.services import Services
from hotline.settings import Settings
from tests.conftest import PUBLIC_URL
from tests.console_helpers import PASSWORD, make_user, sign_in

A, B = "幸福里社区", "光明社区"


@pytest.fixture
def offices(services: Services) -> None:
    with services.sessions.begin() as session:
        for name in (A, B):
            register.find_or_create_grid(session, register.find_or_create_community(session, name), "一网格")
    make_user(services, "admin", StaffRole.ADMIN)
    make_user(services, "clerk_a", StaffRole.CLERK, community=A)


def account(services: Services, username: str) -> StaffUser | None:
    with services.readonly() as session:
        found = session.scalar(select(StaffUser).where(StaffUser.username == username))
        if found is not None:
            session.expunge(found)
        return found


class _Select(HTMLParser):
    """What a browser sends for one <select>: its selected option, else its first enabled one; nothing if the
    option it shows is disabled. Also every option's value and label."""

    def __init__(self, select_id: str) -> None:
        super().__init__()
        self.select_id, self.inside = select_id, False
        self.options: list[list[object]] = []  # value, selected, disabled, label

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "select":
            self.inside = found.get("id") == self.select_id
        elif tag == "option" and self.inside:
            self.options.append([found.get("value") or "", "selected" in found, "disabled" in found, ""])

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside and self.options:
            self.options[-1][3] = str(self.options[-1][3]) + data

    def sent(self) -> str | None:
        chosen = [o for o in self.options if o[1]] or [o for o in self.options if not o[2]][:1]
        return None if not chosen or chosen[-1][2] else str(chosen[-1][0])


def select_in(page: str, select_id: str) -> _Select:
    parser = _Select(select_id)
    parser.feed(page)
    assert parser.options, select_id
    return parser


def choice(page: str, label: str) -> str:
    """The value of the role-and-scope option shown as `label` on the new-account form."""
    values = [str(o[0]) for o in select_in(page, "f-scope").options if str(o[3]).strip() == label]
    assert len(values) == 1, (label, values)
    return values[0]


def audit_of(services: Services, kind: str) -> list[tuple[str, int | None, str]]:
    with services.readonly() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.object_kind == kind).order_by(AuditEntry.id))
        return [(e.action, e.object_id, e.actor_name) for e in rows]


def test_an_admin_adds_an_account_once_changes_its_role_and_stops_it(
    client: TestClient, settings: Settings, services: Services, offices: None
) -> None:
    csrf = sign_in(client, "admin")
    listed = client.get("/people/staff").text
    form = {
        "username": "liu",
        "display_name": "刘敏",
        "password": PASSWORD,
        "scope": choice(listed, f"社区工作人员 · {A}"),
        "language": "zh-CN",
        "csrf_token": csrf,
    }
    for _ in range(2):  # a double click
        assert client.post("/people/staff", data=form, follow_redirects=False).status_code == 303
    liu = account(services, "liu")
    assert liu is not None and liu.role == StaffRole.CLERK and liu.display_name == "刘敏"
    assert audit_of(services, "staff") == [("create", liu.id, "admin")]
    for bad, words in (
        ({"username": "刘"}, "登录名不对"),
        ({"username": "wang", "password": "short"}, "密码太短"),
        ({"username": "wang", "scope": "clerk:"}, "社区工作人员要选社区"),
        ({"password": "another password"}, "这个登录名已经有人用了"),  # liu, but not the same request
    ):
        refused = client.post("/people/staff", data={**form, **bad})
        assert refused.status_code == 400 and words in refused.text, bad
    assert account(services, "wang") is None

    # 刘敏 signs in elsewhere and sees her community; the admin makes her a grid leader, then stops her.
    with TestClient(create_app(settings, services), base_url=PUBLIC_URL) as liu_client:
        sign_in(liu_client, "liu")
        changed = client.post(
            f"/people/staff/{liu.id}/role", data={"scope": choice(listed, f"网格长 · {A} 一网格"), "csrf_token": csrf}
        )
        assert changed.status_code == 200 and "角色已修改" in changed.text
        now = account(services, "liu")
        assert now is not None and now.role == StaffRole.GRID_LEADER and now.grid_id is not None
        assert "网格长" in liu_client.get("/board").text  # her session carries the new role at once
        for _ in range(2):
            stopped = client.post(f"/people/staff/{liu.id}/deactivate", data={"csrf_token": csrf})
            assert stopped.status_code == 200 and "账号已停用" in stopped.text
        assert liu_client.get("/board", follow_redirects=False).status_code == 303  # signed out
    assert audit_of(services, "staff") == [
        ("create", liu.id, "admin"),
        ("edit", liu.id, "admin"),
        ("deactivate", liu.id, "admin"),
    ]

    me = account(services, "admin")
    assert me is not None
    own = client.post(f"/people/staff/{me.id}/deactivate", data={"csrf_token": csrf})
    assert own.status_code == 400 and "不能修改或停用你自己的账号" in own.text
    assert (account(services, "admin") or me).active


def test_a_token_is_made_once_its_secret_shown_once_and_revoked(
    client: TestClient, services: Services, offices: None
) -> None:
    csrf = sign_in(client, "admin")
    form_page = client.get("/people/tokens").text
    key = re.search(r'name="request_key" value="([^"]+)"', form_page)
    assert key
    scope = choice(form_page, f"社区工作人员 · {A}")
    form = {"name": "区里的系统", "scope": scope, "lifetime": "30", "request_key": key.group(1)}
    made = client.post("/people/tokens", data={**form, "csrf_token": csrf})
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    secret = re.search(r'id="token-secret" readonly size="50" value="(hl_[^"]+)"', made.text)
    assert secret
    assert client.get("/api/v1/board", headers={"Authorization": f"Bearer {secret.group(1)}"}).status_code == 200
    again = client.post("/people/tokens", data={**form, "csrf_token": csrf})  # the same form, sent again
    assert again.status_code == 200 and "刚才已经创建过了" in again.text
    assert secret.group(1) not in again.text and 'id="token-secret"' not in again.text
    with services.readonly() as session:
        tokens = session.scalars(select(ApiToken)).all()
        assert [(t.name, t.role, t.expires_at is not None) for t in tokens] == [("区里的系统", "clerk", True)]
        token_id = tokens[0].id
    assert audit_of(services, "token") == [("create", token_id, "admin")]

    refused = client.post(
        "/people/tokens", data={**form, "request_key": "x" * 20, "scope": "clerk:", "csrf_token": csrf}
    )
    assert refused.status_code == 400 and "社区工作人员要选社区" in refused.text

    for _ in range(2):
        revoked = client.post(f"/people/tokens/{token_id}/revoke", data={"csrf_token": csrf})
        assert revoked.status_code == 200 and "令牌已吊销" in revoked.text
    assert client.get("/api/v1/board", headers={"Authorization": f"Bearer {secret.group(1)}"}).status_code == 401
    assert audit_of(services, "token") == [("create", token_id, "admin"), ("revoke", token_id, "admin")]


def test_a_clerk_cannot_touch_staff_accounts_or_tokens(client: TestClient, services: Services, offices: None) -> None:
    csrf = sign_in(client, "clerk_a")
    admin = account(services, "admin")
    assert admin is not None
    for path in ("/people/staff", "/people/tokens"):
        assert client.get(path).status_code == 403
    posts = {
        "/people/staff": {"username": "x1", "password": PASSWORD, "scope": "admin"},
        f"/people/staff/{admin.id}/role": {"scope": f"clerk:{A}"},
        f"/people/staff/{admin.id}/deactivate": {},
        "/people/tokens": {"name": "x", "scope": "admin", "lifetime": "30", "request_key": "k" * 20},
    }
    for path, body in posts.items():
        assert client.post(path, data={**body, "csrf_token": csrf}).status_code == 403, path
    still = account(services, "admin")
    assert still is not None and still.active and still.role == StaffRole.ADMIN
    assert account(services, "x1") is None and audit_of(services, "staff") == audit_of(services, "token") == []
    assert "/people/staff" not in client.get("/people/liaisons").text


def test_no_form_gives_an_admin_unless_one_is_chosen(client: TestClient, services: Services, offices: None) -> None:
    """The new-account form starts on no role, and sent so it is refused in words; the token form starts on the
    narrowest scope; a grid leader of a community whose name has a space is shown, and saved, as that."""
    with services.sessions.begin() as session:
        register.find_or_create_grid(session, register.find_or_create_community(session, "Peace Garden"), "Grid 1")
    make_user(services, "zhao", StaffRole.GRID_LEADER, grid="Peace Garden/Grid 1")
    csrf = sign_in(client, "admin")
    listed = client.get("/people/staff").text
    assert select_in(listed, "f-scope").sent() is None  # the disabled "choose" line: the browser sends nothing
    form = {"username": "sun", "display_name": "孙", "password": PASSWORD, "language": "zh-CN", "csrf_token": csrf}
    for scope in ({}, {"scope": ""}):
        refused = client.post("/people/staff", data={**form, **scope})
        assert refused.status_code == 400 and "还没有选角色和范围" in refused.text, scope
    assert account(services, "sun") is None

    tokens_page = client.get("/people/tokens").text
    first = select_in(tokens_page, "f-scope").sent()
    assert first is not None and first.startswith("grid_leader:"), first

    zhao = account(services, "zhao")
    assert zhao is not None
    row = select_in(listed, f"scope-{zhao.id}")
    sent = row.sent()
    assert sent is not None and sent != "admin", row.options
    saved = client.post(f"/people/staff/{zhao.id}/role", data={"scope": sent, "csrf_token": csrf})
    assert saved.status_code == 200, saved.text
    after = account(services, "zhao")
    assert after is not None and after.role == StaffRole.GRID_LEADER and after.grid_id == zhao.grid_id
