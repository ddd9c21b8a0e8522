"""Stopping a liaison passes their open errands on, in the same transaction: offered to the household's new
primary liaison (the former backup), who is sent the offer SMS once; with nobody there, up the ladder."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.models import Liaison, StaffRole, Task, TaskStatus
from hotline.cli import main
from hotline.services import Services
from tests.conftest import (
    BACKUP_PHONE,
    LEADER_PHONE,
    LIAISON_PHONE,
    post_signed,
    run_worker,
    sent_to,
    sms_params,
)
from tests.console_helpers import make_user, sign_in


def the_task(services: Services) -> Task:
    with services.sessions() as session:
        return session.scalars(select(Task)).one()


def liaison_id(services: Services, phone: str) -> int:
    with services.sessions() as session:
        return session.scalars(select(Liaison.id).where(Liaison.phone == phone)).one()


def offers_to(services: Services, phone: str, task_id: int) -> list[str]:
    return [body for body in sent_to(services, phone) if f"回复“接{task_id}”" in body]


def test_stopping_a_liaison_in_the_console_offers_their_errand_to_the_new_primary(
    client: TestClient, services: Services, community: None
) -> None:
    post_signed(client, services, "/twilio/sms", sms_params("买菜"))
    run_worker(services)
    task = the_task(services)
    assert task.status == TaskStatus.OFFERED and task.assignee_liaison_id == liaison_id(services, LIAISON_PHONE)
    make_user(services, "admin", StaffRole.ADMIN)
    csrf = sign_in(client, "admin")
    stopped = liaison_id(services, LIAISON_PHONE)

    preview = client.get(f"/people/liaisons/{stopped}/deactivate")
    assert preview.status_code == 200 and "这些任务将转交（1 件）" in preview.text
    assert f"任务 #{task.id}</a> · 买菜 → 李强" in preview.text
    assert the_task(services).assignee_liaison_id == stopped  # a preview changes nothing

    for _ in range(2):  # a double click
        done = client.post(f"/people/liaisons/{stopped}/deactivate", data={"csrf_token": csrf})
        assert done.status_code == 200
        run_worker(services)
    after = the_task(services)
    assert after.status == TaskStatus.OFFERED and after.assignee_liaison_id == liaison_id(services, BACKUP_PHONE)
    assert len(offers_to(services, BACKUP_PHONE, task.id)) == 1
    assert any("不用" in body or "改派" in body for body in sent_to(services, LIAISON_PHONE)[1:])

    # 李强 takes it by reply: it is his now, as any offer.
    post_signed(client, services, "/twilio/sms", sms_params(f"接{task.id}", from_phone=BACKUP_PHONE))
    run_worker(services)
    taken = the_task(services)
    assert taken.status == TaskStatus.ACCEPTED and taken.assignee_liaison_id == liaison_id(services, BACKUP_PHONE)


def test_stopping_a_liaison_from_the_command_line_passes_a_taken_errand_on_or_up_the_ladder(
    client: TestClient, services: Services, community: None, environ: dict[str, str]
) -> None:
    post_signed(client, services, "/twilio/sms", sms_params("买菜"))
    run_worker(services)
    task = the_task(services)
    post_signed(client, services, "/twilio/sms", sms_params(f"接{task.id}", from_phone=LIAISON_PHONE))
    run_worker(services)
    assert the_task(services).status == TaskStatus.ACCEPTED

    result = CliRunner(env=environ).invoke(main, ["liaisons", "deactivate", "--phone", LIAISON_PHONE])
    assert result.exit_code == 0, result.output
    assert f"task #{task.id} passes to 李强" in result.output
    run_worker(services)
    after = the_task(services)
    assert after.status == TaskStatus.OFFERED and after.assignee_liaison_id == liaison_id(services, BACKUP_PHONE)
    assert len(offers_to(services, BACKUP_PHONE, task.id)) == 1

    # 李强 is stopped too: nobody is left in the household, so the errand goes up to the grid leader at once.
    result = CliRunner(env=environ).invoke(main, ["liaisons", "deactivate", "--phone", BACKUP_PHONE])
    assert result.exit_code == 0, result.output
    run_worker(services)
    up = the_task(services)
    assert up.status == TaskStatus.ESCALATED and up.assignee_liaison_id is None and up.rung == 2
    assert len(sent_to(services, LEADER_PHONE)) == 1


def test_a_liaison_marked_not_active_in_an_import_passes_their_errand_on(
    client: TestClient, services: Services, community: None, environ: dict[str, str], tmp_path: Path
) -> None:
    post_signed(client, services, "/twilio/sms", sms_params("买菜"))
    run_worker(services)
    task = the_task(services)
    sheet = tmp_path / "liaisons.csv"
    sheet.write_text(f"姓名,电话,在岗\n张敏,{LIAISON_PHONE},否\n", encoding="utf-8")

    dry = CliRunner(env=environ).invoke(main, ["import", "liaisons", str(sheet), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    run_worker(services)
    assert the_task(services).assignee_liaison_id == liaison_id(services, LIAISON_PHONE)  # a dry run sends nothing
    assert offers_to(services, BACKUP_PHONE, task.id) == []

    for _ in range(2):  # the same file again changes nothing more
        result = CliRunner(env=environ).invoke(main, ["import", "liaisons", str(sheet)])
        assert result.exit_code == 0, result.output
        run_worker(services)
    after = the_task(services)
    assert after.status == TaskStatus.OFFERED and after.assignee_liaison_id == liaison_id(services, BACKUP_PHONE)
    assert len(offers_to(services, BACKUP_PHONE, task.id)) == 1
