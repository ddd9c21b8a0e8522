"""The API's board lists the residents away or in hospital, as the console's board does: in the token's scope, the
reason as its code and in the console's words, since when and until when; no note, no phone number.

Real parts: SQLite (or PostgreSQL), redis-server, Starlette's TestClient; the clock is the test's (2030-03-04).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import jsonschema_rs
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import StaffRole
from hotline.api.openapi import DOCUMENT
from hotline.services import Services
from tests.api_helpers import API, bearer, issue
from tests.conftest import PHONES, Clock

FENG_PHONE = "+8613900000077"


def elsewhere(services: Services) -> int:
    """冯奶奶, a resident of another community, 光明社区."""
    with services.sessions.begin() as session:
        register.add_liaison(session, name="周明", phone="+8613800000077", region="CN")
        resident = register.add_resident(
            session,
            name="冯奶奶",
            phones=[FENG_PHONE],
            liaison_phone="+8613800000077",
            address=register.Address("光明社区", "5号楼", "1单元", "101"),
            region="CN",
        )
        return resident.id


def set_away(client: TestClient, token: dict[str, str], resident_id: int, key: str, **body: Any) -> None:
    made = client.post(f"{API}/residents/{resident_id}/absence", json=body, headers={**token, "Idempotency-Key": key})
    assert made.status_code == 201, made.text


def away_on_board(client: TestClient, token: dict[str, str]) -> list[dict[str, Any]]:
    board = client.get(f"{API}/board", headers=token)
    assert board.status_code == 200, board.text
    components = DOCUMENT["components"]
    jsonschema_rs.Draft202012Validator({"$ref": "#/components/schemas/Board", "components": components}).validate(
        board.json()
    )  # as the OpenAPI document says, where the list is documented as the board's own
    away: list[dict[str, Any]] = board.json()["away"]
    row = {**components["schemas"]["Board"]["properties"]["away"]["items"], "components": components}
    for shown in away:
        jsonschema_rs.Draft202012Validator(row).validate(shown)
    return away


def test_the_board_lists_who_is_away_in_the_tokens_scope_with_the_reason_in_words_and_no_note(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    feng = elsewhere(services)
    admin = bearer(issue(services))
    assert away_on_board(client, admin) == []
    set_away(client, admin, town["王大爷"], "a-1", reason="hospital", return_on="2030-03-12", note="心内科 12 床")
    set_away(client, admin, feng, "a-2", reason="travel", return_on="2030-03-08", note="去海南")
    set_away(client, admin, town["陈伯"], "a-3", reason="family", return_on="2030-03-20")

    everyone = away_on_board(client, admin)
    assert everyone == [  # those back soonest first
        {
            "resident_id": feng,
            "name": "冯奶奶",
            "community": "光明社区",
            "grid": "-",
            "reason": "travel",
            "reason_text": "外出旅行",
            "starts_on": "2030-03-04",
            "return_on": "2030-03-08",
        },
        {
            "resident_id": town["王大爷"],
            "name": "王大爷",
            "community": "幸福里社区",
            "grid": "第1网格",
            "reason": "hospital",
            "reason_text": "住院",
            "starts_on": "2030-03-04",
            "return_on": "2030-03-12",
        },
        {
            "resident_id": town["陈伯"],
            "name": "陈伯",
            "community": "幸福里社区",
            "grid": "第1网格",
            "reason": "family",
            "reason_text": "住在子女或亲友家",
            "starts_on": "2030-03-04",
            "return_on": "2030-03-20",
        },
    ]
    said = json.dumps(everyone, ensure_ascii=False)
    assert "心内科" not in said and "海南" not in said  # a note may be a health detail: never on the board
    for phone in (PHONES["王大爷"], PHONES["陈伯"], FENG_PHONE):
        assert phone[3:] not in said  # no phone number in any form

    clerk = bearer(issue(services, StaffRole.CLERK, community="幸福里社区"))
    assert [w["name"] for w in away_on_board(client, clerk)] == ["王大爷", "陈伯"]
    theirs = bearer(issue(services, StaffRole.CLERK, community="光明社区"))
    assert [w["name"] for w in away_on_board(client, theirs)] == ["冯奶奶"]
    leader = bearer(issue(services, StaffRole.GRID_LEADER, grid="幸福里社区/第1网格"))
    assert [w["name"] for w in away_on_board(client, leader)] == ["王大爷", "陈伯"]

    ended = client.post(f"{API}/residents/{town['王大爷']}/absence/end", headers=clerk)
    assert ended.status_code == 200 and ended.json()["ended"] is True
    assert [w["name"] for w in away_on_board(client, clerk)] == ["陈伯"]


def test_the_reason_is_in_the_hotlines_language(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    admin = bearer(issue(services))
    set_away(client, admin, town["刘奶奶"], "a-1", reason="hospital", return_on="2030-03-09")
    services.settings = replace(services.settings, language="en")
    (shown,) = away_on_board(client, admin)
    assert (shown["reason"], shown["reason_text"]) == ("hospital", "In hospital")
