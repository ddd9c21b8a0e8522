"""Tasks staff make: a neighbour phones the office and a clerk makes a task for the resident, on the resident's
page or through the API. It goes to the liaison as any task does; the same request twice makes one task and sends
one offer; health first, an unwell task is urgent; a resident outside the scope is not there."""

from __future__ import annotations

import re
import threading
import uuid

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from dispatch.exceptions import InvalidAction
from dispatch.models import AuditEntry, StaffRole, Task, TaskEvent, TaskPriority, TaskStatus
from dispatch.staff_accounts import household_scope
from dispatch.tasks.staff_made import make_task
from hotline.services import Services
from tests.api_helpers import API, bearer, issue
from tests.conftest import run_worker, sent_to, tasks
from tests.console_register_helpers import ADMIN, as_user, make_people

ZHANG = "+8613912345678"  # 梁阿姨's liaison


@pytest.fixture
def people(services: Services) -> dict[str, int]:
    return make_people(services)


def form_key(page: str) -> str:
    found = re.search(r'name="request_key" value="([^"]+)"', page)
    assert found, "the resident's page has no make-a-task form"
    return found.group(1)


def test_a_clerk_makes_a_task_from_the_residents_page_and_the_liaison_is_offered_it_once(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    token = as_user(client, "clerk")
    page = client.get(f"/register/residents/{people['梁阿姨']}")
    assert page.status_code == 200 and "为该居民建任务" in page.text
    form = {
        "csrf_token": token,
        "request_key": form_key(page.text),
        "category": "medicine",
        "words": "邻居来电：降压药吃完了",
    }
    made = client.post(f"/register/residents/{people['梁阿姨']}/tasks", data=form, follow_redirects=False)
    assert made.status_code == 303
    task_id = int(re.fullmatch(r"/tasks/(\d+)\?done=made", made.headers["location"]).group(1))  # type: ignore[union-attr]
    again = client.post(f"/register/residents/{people['梁阿姨']}/tasks", data=form, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == made.headers["location"]  # a double click
    run_worker(services)
    [task] = tasks(services)
    assert (task.id, task.category, task.status, task.description) == (task_id, "medicine", "offered", form["words"])
    assert task.priority == TaskPriority.NORMAL
    offers = [body for body in sent_to(services, ZHANG) if f"#{task_id}" in body]
    assert len(offers) == 1 and "降压药" in offers[0]
    with services.readonly() as session:
        created = session.scalar(select(TaskEvent).where(TaskEvent.task_id == task_id, TaskEvent.kind == "created"))
        assert created is not None and created.channel == "console" and created.actor.startswith("staff:")
        audits = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "create")))
        assert [(a.object_kind, a.object_id) for a in audits] == [("task", task_id)]
    shown = client.get(made.headers["location"])
    assert "任务已建好" in shown.text


def test_an_unwell_task_is_urgent_unasked_and_bad_input_writes_nothing(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    token = as_user(client, "clerk")
    url = f"/register/residents/{people['梁阿姨']}/tasks"
    page = client.get(f"/register/residents/{people['梁阿姨']}").text
    empty = client.post(
        url, data={"csrf_token": token, "request_key": form_key(page), "category": "groceries", "words": "  "}
    )
    assert empty.status_code == 422 and "请写下需要做什么" in empty.text
    unknown = client.post(
        url, data={"csrf_token": token, "request_key": form_key(page), "category": "x", "words": "米"}
    )
    assert unknown.status_code == 422 and "请从列出的类别中选一个" in unknown.text
    assert tasks(services) == []
    form = {"csrf_token": token, "request_key": form_key(page), "category": "unwell", "words": "女儿来电：妈妈说胸口闷"}
    assert client.post(url, data=form, follow_redirects=False).status_code == 303
    [task] = tasks(services)
    assert task.priority == TaskPriority.URGENT  # health first: nobody ticked "urgent"


def test_a_resident_outside_the_scope_is_not_there(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    token = as_user(client, "clerk")
    form = {"csrf_token": token, "request_key": uuid.uuid4().hex, "category": "groceries", "words": "买米"}
    for resident_id in (people["赵奶奶"], 999_999):  # another community's, and nobody's
        refused = client.post(f"/register/residents/{resident_id}/tasks", data=form, follow_redirects=False)
        assert refused.status_code == 404
    assert tasks(services) == []


def test_the_api_makes_a_task_once_per_idempotency_key(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    headers = bearer(issue(services, StaffRole.CLERK, community="幸福里社区"))
    body = {"resident_id": people["梁阿姨"], "category": "groceries", "words": "邻居来电：帮买米和油"}
    missing = client.post(f"{API}/tasks", json=body, headers=headers)
    assert missing.status_code == 400 and "Idempotency-Key" in missing.json()["error"]
    key = {**headers, "Idempotency-Key": uuid.uuid4().hex}
    first = client.post(f"{API}/tasks", json=body, headers=key)
    assert first.status_code == 201, first.text
    made = first.json()
    assert made["messages_decided"] == 1 and made["task"]["category"] == "groceries"
    again = client.post(f"{API}/tasks", json=body, headers=key)
    assert again.status_code == 200 and again.json()["task"]["id"] == made["task"]["id"]
    assert again.json()["messages_decided"] == 0
    other = client.post(f"{API}/tasks", json={**body, "resident_id": people["王大爷"]}, headers=key)
    assert other.status_code == 422 and "another request" in other.json()["error"]  # never read as the first
    unwell = client.post(f"{API}/tasks", json={**body, "category": "unwell", "words": "胸口闷"}, headers=key)
    assert unwell.status_code == 422
    # Keys are each sender's own: another token's "k1" is its own request.
    another = bearer(issue(services, StaffRole.CLERK, community="幸福里社区"))
    theirs = client.post(f"{API}/tasks", json=body, headers={**another, "Idempotency-Key": key["Idempotency-Key"]})
    assert theirs.status_code == 201 and theirs.json()["task"]["id"] != made["task"]["id"]
    outside = client.post(
        f"{API}/tasks", json={**body, "resident_id": people["赵奶奶"]}, headers={**headers, "Idempotency-Key": "k2"}
    )
    assert outside.status_code == 404
    run_worker(services)
    made_ids = [t.id for t in tasks(services)]
    assert len(made_ids) == 2  # the first token's, once however often sent, and the other token's
    offers = [b for b in sent_to(services, ZHANG) if "买米" in b]
    assert sorted(re.search(r"#(\d+)", b).group(1) for b in offers) == [str(i) for i in made_ids]  # type: ignore[union-attr]


def test_the_same_key_at_the_same_moment_makes_one_task(services: Services, people: dict[str, int]) -> None:
    key, results, errors = uuid.uuid4().hex, [], []
    start = threading.Barrier(2)

    def make() -> None:
        try:
            start.wait(10)
            with services.sessions.begin() as session:
                made = make_task(
                    session,
                    people["梁阿姨"],
                    "groceries",
                    "买米",
                    urgent=False,
                    request_key=key,
                    actor=ADMIN,
                    channel="api",
                    where=household_scope(ADMIN),
                    now=services.clock(),
                    context=services.intake,
                )
            results.append(made)
        except Exception as exc:  # reported below, with the other thread's result
            errors.append(exc)

    threads = [threading.Thread(target=make) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(results) == 2, errors
    assert sorted(made.created for made in results) == [False, True]
    assert len({made.task_id for made in results}) == 1
    with services.readonly() as session:
        assert session.scalar(select(Task.status)) == TaskStatus.OFFERED
    with pytest.raises(InvalidAction, match="request key"), services.sessions.begin() as session:
        make_task(
            session,
            people["梁阿姨"],
            "groceries",
            "买米",
            urgent=False,
            request_key=" ",
            actor=ADMIN,
            channel="api",
            where=household_scope(ADMIN),
            now=services.clock(),
            context=services.intake,
        )


def test_a_done_task_that_was_not_done_after_all_is_reopened_and_offered_again(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    headers = bearer(issue(services, StaffRole.CLERK, community="幸福里社区"))
    body = {"resident_id": people["梁阿姨"], "category": "medicine", "words": "降压药"}
    task_id = client.post(f"{API}/tasks", json=body, headers={**headers, "Idempotency-Key": "k1"}).json()["task"]["id"]
    early = client.post(f"{API}/tasks/{task_id}/reopen", json={}, headers=headers)
    assert early.status_code == 409 and "only a done task" in early.json()["error"]
    assert client.post(f"{API}/tasks/{task_id}/close", json={"note": "送到了"}, headers=headers).status_code == 200
    run_worker(services)
    offers_before = [b for b in sent_to(services, ZHANG) if f"#{task_id}" in b]
    token = as_user(client, "clerk")
    assert "重新打开并派给联络员" in client.get(f"/tasks/{task_id}").text
    reopened = client.post(
        f"/tasks/{task_id}/reopen", data={"csrf_token": token, "reason": "药买错了"}, follow_redirects=False
    )
    assert reopened.status_code == 303 and reopened.headers["location"] == f"/tasks/{task_id}?done=reopen"
    again = client.post(f"/tasks/{task_id}/reopen", data={"csrf_token": token}, follow_redirects=False)
    assert again.status_code == 409  # reopened once: now it is open
    run_worker(services)
    [task] = tasks(services)
    assert (task.status, task.rung, task.assignee_liaison_id) == (TaskStatus.OFFERED, 0, people["张敏"])
    offers_after = [b for b in sent_to(services, ZHANG) if f"#{task_id}" in b]
    assert len(offers_after) == len(offers_before) + 1 and "降压药" in offers_after[-1]
    with services.readonly() as session:
        kinds = list(session.scalars(select(TaskEvent.kind).where(TaskEvent.task_id == task_id).order_by(TaskEvent.id)))
        assert kinds[-1] == "reopened" and kinds.count("reopened") == 1
    assert "重新打开" in client.get(f"/tasks/{task_id}").text


def test_a_form_brought_back_by_the_back_button_and_filled_in_again_is_not_read_as_the_first(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    token = as_user(client, "clerk")
    url = f"/register/residents/{people['梁阿姨']}"
    page = client.get(url)
    assert page.headers["cache-control"] == "no-store"  # the browser is told not to bring it back
    key = form_key(page.text)
    first = {"csrf_token": token, "request_key": key, "category": "groceries", "words": "邻居来电：买米"}
    assert client.post(f"{url}/tasks", data=first, follow_redirects=False).status_code == 303
    second = {**first, "category": "unwell", "words": "女儿来电：胸口闷"}  # the same key: a page brought back
    refused = client.post(f"{url}/tasks", data=second, follow_redirects=False)
    assert refused.status_code == 422 and "这张表已经建过任务" in refused.text
    fresh = form_key(refused.text)
    assert fresh != key
    made = client.post(f"{url}/tasks", data={**second, "request_key": fresh}, follow_redirects=False)
    assert made.status_code == 303
    assert sorted((t.category, t.priority) for t in tasks(services)) == [
        ("groceries", TaskPriority.NORMAL),
        ("unwell", TaskPriority.URGENT),
    ]
