"""The console's triage of unknown numbers: the board's section, the list, one item's page, and its three forms
(link after a confirmation page, register, close), each scoped to the clerk's community and safe to repeat."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.models import (
    AuditEntry,
    InboundMessage,
    Resident,
    StaffRole,
    Task,
    TaskCategory,
    TriageItem,
    TriageStatus,
)
from dispatch.phones import national_format
from dispatch.tokens import create_token
from hotline.services import Services
from tests.callflow import CallFlow
from tests.conftest import LIAISON_PHONE, RESIDENT_PHONE, STRANGER_PHONE, post_signed, run_worker, sms_params
from tests.console_helpers import make_user, sign_in
from workers.gateways.local import LocalGateway

HOME, OTHER = "幸福里社区", "光明社区"


@pytest.fixture
def item_id(client: TestClient, services: Services, community: None) -> int:
    """Mrs Liang's daughter texts from her own number, twice: one item."""
    for body in ("我是梁阿姨的女儿，我妈想买点菜", "她的手机坏了"):
        assert (
            post_signed(client, services, "/twilio/sms", sms_params(body, from_phone=STRANGER_PHONE)).status_code == 200
        )
    run_worker(services)
    with services.sessions() as session:
        found = session.scalar(select(TriageItem.id))
        assert found is not None
        return found


def resident_id(services: Services) -> int:
    with services.sessions() as session:
        return register.find_residents_by_phone(session, RESIDENT_PHONE)[0].id


def item(services: Services, found: int) -> TriageItem:
    with services.sessions() as session:
        got = session.get(TriageItem, found)
        assert got is not None
        session.expunge(got)
        return got


def test_the_board_shows_the_clerk_the_item_and_a_grid_leader_nothing(
    client: TestClient, services: Services, item_id: int
) -> None:
    make_user(services, "clerk1", StaffRole.CLERK, community=HOME)
    make_user(services, "leader1", StaffRole.GRID_LEADER, grid=f"{HOME}/第1网格")
    sign_in(client, "clerk1")
    board = client.get("/board?part=1").text
    assert 'id="board-triage"' in board and f'href="/triage/{item_id}"' in board
    assert "137****0001" in board and STRANGER_PHONE not in board and "她的手机坏了" in board
    assert 'href="/triage"' in client.get("/board").text  # the header's link
    listed = client.get("/triage")
    assert listed.status_code == 200 and f'data-triage="{item_id}"' in listed.text
    assert f'data-triage="{item_id}"' not in client.get("/triage?status=closed").text
    client.cookies.clear()
    sign_in(client, "leader1")
    board = client.get("/board").text
    assert "board-triage" not in board and "137****0001" not in board and 'href="/triage"' not in board
    assert client.get(f"/triage/{item_id}").status_code == 403


def test_a_clerk_of_another_community_gets_not_found(client: TestClient, services: Services, item_id: int) -> None:
    with services.sessions.begin() as session:
        register.find_or_create_community(session, OTHER)
    make_user(services, "clerk2", StaffRole.CLERK, community=OTHER)
    csrf = sign_in(client, "clerk2")
    assert client.get(f"/triage/{item_id}").status_code == 404
    assert "board-triage" in client.get("/board").text and "137****0001" not in client.get("/board").text
    closed = client.post(f"/triage/{item_id}/close", data={"note": "不是我们的", "csrf_token": csrf})
    assert closed.status_code == 404 and item(services, item_id).status == TriageStatus.OPEN


def test_linking_goes_through_a_confirmation_page_then_hands_the_messages_over(
    client: TestClient, services: Services, item_id: int
) -> None:
    make_user(services, "clerk1", StaffRole.CLERK, community=HOME)
    csrf = sign_in(client, "clerk1")
    page = client.get(f"/triage/{item_id}?q=梁")
    # In full on the item's page, to call back, as people dial it
    assert page.status_code == 200 and national_format(STRANGER_PHONE) in page.text and STRANGER_PHONE not in page.text
    assert "我是梁阿姨的女儿，我妈想买点菜" in page.text
    resident = resident_id(services)
    assert f"/triage/{item_id}/link?resident_id={resident}" in page.text
    confirm = client.get(f"/triage/{item_id}/link?resident_id={resident}")
    assert confirm.status_code == 200 and "梁阿姨" in confirm.text and "137****0001" in confirm.text
    assert 'name="confirm" value="1"' in confirm.text
    # Posting without the confirmation page's field only leads to that page.
    skipped = client.post(
        f"/triage/{item_id}/link", data={"resident_id": str(resident), "csrf_token": csrf}, follow_redirects=False
    )
    assert (
        skipped.status_code == 303 and skipped.headers["location"] == f"/triage/{item_id}/link?resident_id={resident}"
    )
    assert item(services, item_id).status == TriageStatus.OPEN
    form = {"resident_id": str(resident), "confirm": "1", "csrf_token": csrf}
    linked = client.post(f"/triage/{item_id}/link", data=form, follow_redirects=False)
    assert linked.status_code == 303 and linked.headers["location"] == f"/triage/{item_id}?done=link"
    assert item(services, item_id).status == TriageStatus.LINKED
    with services.sessions() as session:
        found = session.get(Resident, resident)
        assert found is not None and STRANGER_PHONE in [p.phone for p in found.phones]
        made = session.scalars(select(Task).where(Task.resident_id == resident).order_by(Task.id)).all()
        assert [t.category for t in made] == [TaskCategory.GROCERIES, TaskCategory.OTHER]  # words for a clerk
        task = made[0]
        actors = set(session.scalars(select(AuditEntry.actor_name).where(AuditEntry.object_kind == "triage")))
    assert actors == {"clerk1"}
    run_worker(services)  # the offer was queued after the commit
    with services.sessions() as session:
        assert session.scalar(select(Task.status).where(Task.id == task.id)) == "offered"
    done = client.get(f"/triage/{item_id}?done=link").text
    assert "已认领" in done and f'href="/tasks/{task.id}"' in done and "triage-register" not in done
    again = client.post(f"/triage/{item_id}/link", data=form)
    assert again.status_code == 409 and "已经是“已认领到居民”，不能再这样处理" in again.text
    with services.sessions() as session:
        assert len(session.scalars(select(Task)).all()) == 2


def test_registering_a_new_resident_and_closing_from_the_page(
    client: TestClient, services: Services, item_id: int
) -> None:
    make_user(services, "clerk1", StaffRole.CLERK, community=HOME)
    csrf = sign_in(client, "clerk1")
    page = client.get(f"/triage/{item_id}").text
    assert (
        f'action="/triage/{item_id}/register"' in page and f'value="{national_format(STRANGER_PHONE)}" readonly' in page
    )
    liaison = re.search(r'<option value="(\d+)">张敏</option>', page)
    assert liaison is not None
    refused = client.post(f"/triage/{item_id}/register", data={"name": " ", "csrf_token": csrf})
    assert refused.status_code == 409 and "name" in refused.text
    form = {
        "name": "梁阿姨的女儿",
        "building": "3号楼",
        "unit": "2单元",
        "room": "402",
        "liaison_id": liaison.group(1),
        "csrf_token": csrf,
    }
    made = client.post(f"/triage/{item_id}/register", data=form, follow_redirects=False)
    assert made.status_code == 303 and item(services, item_id).status == TriageStatus.REGISTERED
    with services.sessions() as session:
        [resident] = register.find_residents_by_phone(session, STRANGER_PHONE)
        assert resident.name == "梁阿姨的女儿" and resident.household.primary_liaison is not None
        assert resident.household.primary_liaison.phone == LIAISON_PHONE
    assert client.post(f"/triage/{item_id}/register", data=form).status_code == 409
    assert client.post(f"/triage/{item_id}/close", data={"note": "x", "csrf_token": csrf}).status_code == 409
    # A new item, closed with a note.
    post_signed(client, services, "/twilio/sms", sms_params("打扰了", from_phone="+8613700000002"))
    run_worker(services)
    with services.sessions() as session:
        second = session.scalar(select(TriageItem.id).where(TriageItem.status == TriageStatus.OPEN))
    assert second is not None
    empty = client.post(f"/triage/{second}/close", data={"note": "", "csrf_token": csrf})
    assert empty.status_code == 409 and item(services, second).status == TriageStatus.OPEN
    closed = client.post(f"/triage/{second}/close", data={"note": "打错了", "csrf_token": csrf})
    assert closed.status_code == 200 and "已关闭" in closed.text and "打错了" in closed.text
    assert item(services, second).status == TriageStatus.CLOSED


def test_staff_hear_an_unknown_callers_voicemail_from_the_item(
    client: TestClient, services: Services, community: None
) -> None:
    gateway = services.gateway
    assert isinstance(gateway, LocalGateway)
    _, url = gateway.make_recording(3)
    flow = CallFlow(client, services, STRANGER_PHONE).call().press("0")
    flow.no_answer()
    flow.leave_message(recording_url=url)
    flow.hang_up()
    run_worker(services)
    with services.sessions() as session:
        found, message = session.execute(
            select(TriageItem.id, InboundMessage.id).join(
                InboundMessage, InboundMessage.triage_item_id == TriageItem.id
            )
        ).one()
    make_user(services, "clerk1", StaffRole.CLERK, community=HOME)
    sign_in(client, "clerk1")
    page = client.get(f"/triage/{found}").text
    assert f'src="/triage/{found}/voicemails/{message}"' in page and "/static/voicemail.js" in page
    audio = client.get(f"/triage/{found}/voicemails/{message}")
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav" and audio.content[:4] == b"RIFF"
    with services.sessions() as session:
        listened = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "listen", AuditEntry.object_kind == "triage")
        ).all()
    assert listened == [f"voicemail message:{message}"]
    assert client.get(f"/triage/{found}/voicemails/{message + 1}").status_code == 404
    headers = bearer_for(services, StaffRole.CLERK, community=HOME)
    detail = client.get(f"/api/v1/triage/{found}", headers=headers).json()
    assert detail["messages"][-1]["audio_url"].endswith(f"/api/v1/triage/{found}/voicemails/{message}")
    assert client.get(f"/api/v1/triage/{found}/voicemails/{message}", headers=headers).content[:4] == b"RIFF"


def bearer_for(services: Services, role: StaffRole, **scope: str) -> dict[str, str]:
    with services.sessions.begin() as session:
        return {"Authorization": f"Bearer {create_token(session, name='t', role=role, **scope)[1]}"}
