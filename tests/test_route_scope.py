"""What each principal may reach, route by route (`tests/route_rules.py`): a grid leader in the console and the
simulator, a grid leader's and another community's tokens in the API, and tokens that are missing, wrong or
revoked. Outside the scope is answered as missing (404), shows nothing of it, and changes nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest
from starlette.testclient import TestClient

from dispatch.models import StaffRole
from dispatch.register.xlsx import is_xlsx, read_sheet
from hotline.services import Services
from tests.console_helpers import make_user, sign_in
from tests.route_rules import RULES, A, Rule, Target, World, build_world, random_secret, row_counts, send

ONE_THING = (
    "task",
    "resident",
    "notice",
    "triage",
    "liaison",
)  # a path naming one of these: outside is 404, exactly as missing


@pytest.fixture
def world(client: TestClient, services: Services) -> World:
    return build_world(client, services)


def passed(response: Any) -> bool:
    """The request got past the guard and the scope: done (2xx, 3xx), or refused by the object's state (409)."""
    return response.status_code < 400 or response.status_code == 409


def shown(response: Any, rule: Rule, target: Target, hidden: set[str]) -> list[str]:
    """The hidden words in the answer, apart from the request's own query (a search box shows what was asked). A
    workbook is read cell by cell: its text is compressed XML."""
    text = response.text
    if is_xlsx(response.content):
        text = "\n".join("\t".join(cells) for _, cells in read_sheet(response.content))
        assert text, "an empty workbook shows nothing, and proves nothing"
    for _, value in parse_qsl(rule.query(target) if rule.query else ""):
        text = text.replace(value, "")
    return sorted(word for word in hidden if word in text)


def check_scope(
    client: TestClient,
    services: Services,
    world: World,
    kinds: tuple[str, ...],
    inside: str,
    outside: list[str],
    role: StaffRole = StaffRole.GRID_LEADER,
    skip: tuple[str, ...] = (),
    **headers: str,
) -> int:
    """Every route of `kinds` the caller's `role` may use, aimed at the `outside` targets, at a missing one and at
    the `inside` one. Returns how many routes were checked."""
    mine, missing = world.targets[inside], world.targets["missing"]
    others = [world.targets[key] for key in outside]
    hidden = {word for target in others for word in target.words}
    checked = 0
    for key, rule in RULES.items():
        if rule.kind not in kinds or key in ("POST /logout", *skip) or role not in rule.roles:
            continue
        checked += 1
        if rule.names in ("list", ""):
            for target in (mine, *others) if rule.query else (mine,):
                response = send(client, key, rule, target, **headers)
                assert passed(response), (key, response.status_code, response.text[:300])
                assert not shown(response, rule, target, hidden), f"{key} shows what is outside the scope"
            continue
        before = row_counts(services)
        as_missing = send(client, key, rule, missing, **headers)
        assert as_missing.status_code in (400, 404, 422), (key, as_missing.status_code, as_missing.text[:300])
        if rule.names in ONE_THING:
            assert as_missing.status_code == 404, key
        for target in others:
            response = send(client, key, rule, target, **headers)
            assert response.status_code == as_missing.status_code, (key, target.words[0], response.status_code)
            assert not shown(response, rule, target, hidden), f"{key} shows what is outside the scope"
        assert row_counts(services) == before, f"{key} changed something outside the scope"
        if rule.names != "call":  # (the simulator call belongs to someone else for every target)
            response = send(client, key, rule, mine, **headers)
            assert passed(response), f"{key} refuses its own scope too: {response.status_code} {response.text[:300]}"
    return checked


def test_a_grid_leader_in_the_console_reaches_only_their_grid(
    client: TestClient, services: Services, world: World
) -> None:
    make_user(services, "leader1", StaffRole.GRID_LEADER, grid=f"{A}/第1网格")
    csrf = sign_in(client, "leader1")
    checked = check_scope(
        client, services, world, ("console", "simulator"), "mine", ["grid2", "other"], **{"X-CSRF-Token": csrf}
    )
    assert checked == 58  # every console and simulator route but sign-out, CSV import, the audit log and people


def test_a_token_reaches_only_its_community_or_grid(client: TestClient, services: Services, world: World) -> None:
    for token, role, inside, outside in (
        ("clerk_b", StaffRole.CLERK, "other", ["mine", "grid2"]),
        ("leader", StaffRole.GRID_LEADER, "mine", ["grid2", "other"]),
    ):
        checked = check_scope(
            client, services, world, ("api",), inside, outside, role, Authorization=f"Bearer {world.tokens[token]}"
        )
        # every API route but the audit log (admins only); a grid leader's, the triage routes (admins, clerks) too
        assert checked == (50 if role == StaffRole.CLERK else 42)


def test_a_clerk_in_the_console_reaches_only_their_community(
    client: TestClient, services: Services, world: World
) -> None:
    make_user(services, "clerk_a", StaffRole.CLERK, community=A)
    csrf = sign_in(client, "clerk_a")
    checked = check_scope(
        client,
        services,
        world,
        ("console", "simulator"),
        "mine",
        ["other"],
        StaffRole.CLERK,
        ("POST /register/import",),
        **{"X-CSRF-Token": csrf},
    )
    assert checked == 76  # every console and simulator route but sign-out, an upload and the admins' own


def test_the_api_refuses_a_missing_wrong_or_revoked_token_on_every_route(
    client: TestClient, services: Services, world: World
) -> None:
    secret = world.tokens["admin"]
    attempts = {
        "none": {},
        "empty": {"Authorization": ""},
        "unknown": {"Authorization": f"Bearer {random_secret()}"},
        "one character off": {"Authorization": f"Bearer {secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"},
        "without its prefix": {"Authorization": f"Bearer {secret[3:]}"},
        "basic scheme": {"Authorization": f"Basic {secret}"},
        "no scheme": {"Authorization": secret},
        "revoked": {"Authorization": f"Bearer {world.tokens['revoked']}"},
    }
    routes: list[tuple[str, Rule]] = [(k, r) for k, r in RULES.items() if r.kind == "api"]
    assert len(routes) == 51
    target: Target = world.targets["mine"]
    for key, rule in routes:
        before = row_counts(services)
        for name, headers in attempts.items():
            response = send(client, key, rule, target, **headers)
            assert response.status_code == 401, (key, name, response.status_code)
            assert response.headers["www-authenticate"].startswith('Bearer realm="hotline"'), (key, name)
            assert not any(word in response.text for word in target.words), (key, name)
        assert row_counts(services) == before, key
        assert passed(send(client, key, rule, target, Authorization=f"Bearer {secret}")), key  # the right token
