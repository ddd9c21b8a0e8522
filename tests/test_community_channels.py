"""A channel per community: one community on its own SIM in an Android phone, another on the hotline's default.
Each message goes through its recipient's community's choice, replies come in through their gateway's webhook,
what a community's channels cannot do applies to that community alone, and staff see and change it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch import register
from dispatch.channels import CHANNELS
from dispatch.models import AuditEntry, Community, InboundMessage, OutboundMessage, StaffRole, Task, TaskCategory
from hotline.cli import main
from hotline.exceptions import SettingsError
from hotline.jobs.sends import deliver_sms
from hotline.services import Services
from hotline.settings import Settings, load_settings
from tests.android_helpers import SIGNING_KEY, post_event, queue
from tests.checkin_helpers import tick
from tests.conftest import (
    LIAISON_PHONE,
    PHONES,
    Clock,
    fresh_services,
    local_outbox,
    make_environ,
    post_signed,
    run_worker,
    sms_params,
)
from tests.console_helpers import make_user, sign_in
from tests.standins.android import AndroidStandIn, received_payload

SUNNY_LIAISON, SUNNY_RESIDENT = "+8613700137001", "+8613700137002"


@pytest.fixture
def phone() -> Iterator[AndroidStandIn]:
    with AndroidStandIn() as standin:
        yield standin


@pytest.fixture
def settings(environ: dict[str, str], phone: AndroidStandIn) -> Settings:
    """The local gateway by default; Android phones for the communities that choose them."""
    more = {"HOTLINE_GATEWAYS": "android", "ANDROID_PHONES": phone.setting("a"), "ANDROID_SIGNING_KEY": SIGNING_KEY}
    return load_settings({**environ, **more}, env_file=None)


@pytest.fixture
def sunny(services: Services) -> dict[str, int]:
    """阳光社区 on its own Android SIM, with no calls; 幸福里社区 (the `town`'s) on the default."""
    with services.sessions.begin() as session:
        register.add_liaison(session, name="陈红", phone=SUNNY_LIAISON, region="CN")
        resident = register.add_resident(
            session,
            name="钱奶奶",
            phones=[SUNNY_RESIDENT],
            liaison_phone=SUNNY_LIAISON,
            address=register.Address("阳光社区", "5号楼", "1单元", "101"),
            region="CN",
        )
        community = resident.household.community
        assert community is not None
        community.sms_gateway, community.call_gateway = "android", "none"
        return {"resident": resident.id, "community": community.id}


def test_each_community_s_messages_go_through_its_own_gateway(
    client: TestClient, services: Services, phone: AndroidStandIn, town: dict[str, int], sunny: dict[str, int]
) -> None:
    # 钱奶奶 texts the Android SIM of 阳光社区; 梁阿姨 texts the default number. Both need groceries.
    assert post_event(client, "a", "sms:received", received_payload(SUNNY_RESIDENT, "想买点菜")).status_code == 204
    assert post_signed(client, services, "/twilio/sms", sms_params("想买点菜", PHONES["梁阿姨"])).status_code == 200
    run_worker(services)

    with services.readonly() as session:
        came = {row.from_phone: row.gateway for row in session.scalars(select(InboundMessage))}
        went = [(row.to_phone, row.gateway) for row in session.scalars(select(OutboundMessage))]
        tasks = session.scalars(select(Task).order_by(Task.id)).all()
    assert came == {SUNNY_RESIDENT: "android", PHONES["梁阿姨"]: "local"}
    assert [t.category for t in tasks] == [TaskCategory.GROCERIES, TaskCategory.GROCERIES]
    # Every message to 阳光社区's people went to its phone, and only those; the rest to the local outbox.
    assert {to for to, gateway in went if gateway == "android"} == {SUNNY_RESIDENT, SUNNY_LIAISON}
    assert {to for to, gateway in went if gateway == "local"} == {PHONES["梁阿姨"], LIAISON_PHONE}
    on_the_sim = {number for request in phone.sent for number in request["phoneNumbers"]}
    assert on_the_sim == {SUNNY_RESIDENT, SUNNY_LIAISON}
    assert {entry.to_phone for entry in local_outbox(services)} == {PHONES["梁阿姨"], LIAISON_PHONE}
    offer = next(r for r in phone.sent if r["phoneNumbers"] == [SUNNY_LIAISON])
    assert "钱奶奶" in offer["textMessage"]["text"]

    # The liaison takes it by answering the SIM's SMS, through the Android webhook.
    sunny_task = next(t for t in tasks if t.resident_id == sunny["resident"])
    taken = received_payload(SUNNY_LIAISON, f"接{sunny_task.id}", message_id="5a5a5a5a")
    assert post_event(client, "a", "sms:received", taken).status_code == 204
    run_worker(services)
    with services.readonly() as session:
        assert session.get(Task, sunny_task.id).assignee_liaison_id is not None  # type: ignore[union-attr]


def test_what_a_community_s_channels_cannot_do_applies_to_it_alone(
    services: Services, clock: Clock, town: dict[str, int], sunny: dict[str, int]
) -> None:
    with services.sessions.begin() as session:
        elder = register.add_resident(
            session,
            name="孔爷爷",
            phones=["+8637166881234"],  # a landline: reached by calls alone
            liaison_phone=SUNNY_LIAISON,
            address=register.Address("阳光社区", "5号楼", "1单元", "102"),
            region="CN",
        )
        elder_id = elder.id
    tick(services, clock, "08:00")
    counts = tick(services, clock, "09:00")
    # 孙爷爷's landline in 幸福里社区 is called as ever; 孔爷爷's, in 阳光社区 with no calls, gets a visit now.
    assert (counts["called"], counts["visit_now"]) == (1, 1)
    with services.readonly() as session:
        visits = session.scalars(select(Task.resident_id).where(Task.category == TaskCategory.VISIT)).all()
    assert visits == [elder_id]
    run_worker(services)
    calls = [e.to_phone for e in local_outbox(services) if e.kind == "call"]
    assert calls == [PHONES["孙爷爷"]]

    # The other way round: calls are off for the hotline, and 阳光社区 chooses the local gateway's.
    services.intake = dataclasses.replace(services.intake, calls=CHANNELS["none"])
    with services.sessions.begin() as session:
        community = session.get(Community, sunny["community"])
        assert community is not None
        community.call_gateway = "local"
    assert services.intake.calls_for("local") == CHANNELS["local"]
    assert services.intake.calls_for(None) == CHANNELS["none"]
    assert services.intake.calls_for("twilio") == CHANNELS["none"]  # not set up: the hotline's own


def test_an_admin_chooses_a_community_s_channels_on_the_channels_page(
    client: TestClient, services: Services, town: dict[str, int], sunny: dict[str, int]
) -> None:
    make_user(services, "admin", StaffRole.ADMIN)
    csrf = sign_in(client, "admin")
    page = client.get("/channels")
    assert page.status_code == 200
    assert 'data-gateway="android"' in page.text and 'data-gateway="local"' in page.text
    with services.readonly() as session:
        happy = session.scalar(select(Community.id).where(Community.name == "幸福里社区"))
    form = {"csrf_token": csrf, "sms": "android", "calls": "none"}
    answer = client.post(f"/channels/communities/{happy}", data=form, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, f"/channels?saved={happy}")
    with services.readonly() as session:
        chosen = session.get(Community, happy)
        assert chosen is not None and (chosen.sms_gateway, chosen.call_gateway) == ("android", "none")
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "channels")).all()
        assert (entry.object_id, entry.detail) == (happy, "sms=android calls=none")

    # A gateway the hotline is not set up with: refused, said, and nothing changed.
    refused = client.post(f"/channels/communities/{happy}", data={**form, "sms": "tencent"}, follow_redirects=False)
    assert refused.status_code == 409 and "热线没有设置“tencent”这个通道" in refused.text
    with services.readonly() as session:
        assert session.get(Community, happy).sms_gateway == "android"  # type: ignore[union-attr]

    # Empty goes back to the hotline's own.
    client.post(f"/channels/communities/{happy}", data={"csrf_token": csrf, "sms": "", "calls": ""})
    with services.readonly() as session:
        back = session.get(Community, happy)
        assert back is not None and (back.sms_gateway, back.call_gateway) == (None, None)


def test_a_clerk_sees_the_choice_and_cannot_change_it(
    client: TestClient, services: Services, town: dict[str, int], sunny: dict[str, int]
) -> None:
    make_user(services, "clerk", StaffRole.CLERK, community="阳光社区")
    csrf = sign_in(client, "clerk")
    page = client.get("/channels")
    assert page.status_code == 200
    row = page.text.split(f'data-community="{sunny["community"]}"', 1)[1].split("</tr>", 1)[0]
    assert "安卓手机短信网关" in row and "不能自动打签到电话" in row
    data = {"csrf_token": csrf, "sms": "local", "calls": "local"}
    assert client.post(f"/channels/communities/{sunny['community']}", data=data).status_code == 403
    with services.readonly() as session:
        assert session.get(Community, sunny["community"]).sms_gateway == "android"  # type: ignore[union-attr]


def test_the_command_line_chooses_and_goes_back_to_the_default(
    settings: Settings,
    services: Services,
    phone: AndroidStandIn,
    sunny: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(settings.data_dir))
    for name, value in (
        ("DATABASE_URL", settings.database_url),
        ("REDIS_URL", settings.redis_url or ""),
        ("HOTLINE_GATEWAYS", "android"),
        ("ANDROID_PHONES", phone.setting("a")),
        ("ANDROID_SIGNING_KEY", SIGNING_KEY),
    ):
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    shown = runner.invoke(main, ["communities", "channels", "--name", "阳光社区", "--sms", "default"])
    assert shown.exit_code == 0, shown.output
    assert "sms default (local) calls none" in shown.output
    assert "! 不能自动打签到电话" in shown.output  # what 阳光社区's channels cannot do, said as it is chosen
    wrong = runner.invoke(main, ["communities", "channels", "--name", "阳光社区", "--calls", "tencent"])
    assert wrong.exit_code == 1 and "tencent" in wrong.output
    with services.readonly() as session:
        chosen = session.get(Community, sunny["community"])
        assert chosen is not None and (chosen.sms_gateway, chosen.call_gateway) == (None, "none")


def test_every_gateway_named_needs_its_settings(tmp_path: Path) -> None:
    environ = make_environ(tmp_path / "var", "redis://127.0.0.1:1")
    with pytest.raises(SettingsError, match="TENCENT_SECRET_ID"):
        load_settings({**environ, "HOTLINE_GATEWAYS": "tencent"}, env_file=None)
    with pytest.raises(SettingsError, match="HOTLINE_GATEWAYS names 'carrier-pigeon'"):
        load_settings({**environ, "HOTLINE_GATEWAYS": "local,carrier-pigeon"}, env_file=None)
    loaded = load_settings({**environ, "HOTLINE_GATEWAYS": "local, LOCAL"}, env_file=None)
    assert loaded.gateways == ("local",) and loaded.call_gateways == ("none", "local")


def test_calls_go_through_the_call_gateway_while_sms_go_through_the_phones(
    environ: dict[str, str], phone: AndroidStandIn
) -> None:
    more = {
        "HOTLINE_GATEWAY": "android",
        "HOTLINE_GATEWAYS": "local",
        "HOTLINE_CALL_GATEWAY": "local",
        "ANDROID_PHONES": phone.setting("a"),
        "ANDROID_SIGNING_KEY": SIGNING_KEY,
    }
    with fresh_services(load_settings({**environ, **more}, env_file=None)) as services:
        call, sms = (
            queue(services, PHONES["孙爷爷"], "", "t:call", kind="call"),
            queue(services, LIAISON_PHONE, "新求助", "t:sms"),
        )
        assert deliver_sms(services, call) and deliver_sms(services, sms)
        assert [(e.kind, e.to_phone) for e in local_outbox(services)] == [("call", PHONES["孙爷爷"])]
        assert [r["phoneNumbers"] for r in phone.sent] == [[LIAISON_PHONE]]
        with services.readonly() as session:
            gateways = [row.gateway for row in session.scalars(select(OutboundMessage).order_by(OutboundMessage.id))]
        assert gateways == ["local", "android"]
