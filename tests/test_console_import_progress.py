"""The console import's progress: the counts an import keeps while it runs (rows checked, then written), asked for
by the page with its own token, for the account that uploaded only; the import itself still all rows or none."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from dispatch.models import Resident
from hotline.console.import_progress import EVERY_SECONDS, ImportProgress, progress_key
from hotline.services import Services
from tests.console_register_helpers import as_user, make_people

TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90"


@pytest.fixture
def people(services: Services) -> dict[str, int]:
    return make_people(services)


def register_csv(rows: int, bad_line: int | None = None) -> bytes:
    lines = ["姓名,电话,社区,楼栋,单元,房号"]
    for n in range(rows):
        phone = "12345" if n + 2 == bad_line else f"1390000{n:04d}"
        lines.append(f"居民{n},{phone},幸福里社区,7号楼,{n // 100 + 1}单元,{n % 100 + 101}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def residents(services: Services) -> int:
    with services.readonly() as session:
        return session.scalar(select(func.count()).select_from(Resident)) or 0


def upload(client: TestClient, csrf: str, data: bytes, token: str = TOKEN) -> int:
    response = client.post(
        "/register/import",
        data={"csrf_token": csrf, "progress": token},
        files={"file": ("名册.csv", data, "text/csv")},
    )
    return response.status_code


def test_an_import_keeps_its_counts_for_its_own_account_to_ask(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    csrf = as_user(client, "clerk")
    page = client.get("/register/import").text
    assert 'name="progress"' in page and 'id="import-progress"' in page and "/static/register_import.js" in page
    waiting = client.get(f"/register/import/progress?token={TOKEN}")
    assert waiting.status_code == 200 and waiting.json() == {
        "stage": "",
        "done": 0,
        "total": 0,
        "words": "正在上传文件……",
    }
    before = residents(services)
    assert upload(client, csrf, register_csv(250)) == 200
    assert residents(services) == before + 250
    done = client.get(f"/register/import/progress?token={TOKEN}").json()
    assert done == {"stage": "rows_written", "done": 250, "total": 250, "words": "写入各行：250 / 250"}

    as_user(client, "admin")  # another account asking with the same token learns nothing
    assert client.get(f"/register/import/progress?token={TOKEN}").json()["stage"] == ""
    for odd in ("short", "x" * 65, "a1b2c3d4e5f6:0718293a4b5c6d7e8f90", ""):
        assert client.get("/register/import/progress", params={"token": odd}).json()["stage"] == ""


def test_a_refused_import_shows_every_row_checked_and_none_written(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    csrf = as_user(client, "clerk")
    before = residents(services)
    assert upload(client, csrf, register_csv(120, bad_line=90)) == 422
    assert residents(services) == before
    found = client.get(f"/register/import/progress?token={TOKEN}").json()
    assert found == {"stage": "rows_checked", "done": 120, "total": 120, "words": "检查各行：120 / 120"}


def test_without_a_token_an_import_keeps_nothing(
    client: TestClient, services: Services, people: dict[str, int]
) -> None:
    csrf = as_user(client, "clerk")
    assert upload(client, csrf, register_csv(5), token="") == 200
    assert not [key for key in services.redis.scan_iter("hotline:import-progress:*")]


def test_counts_reach_redis_a_few_times_a_second_and_at_each_stage_start_and_end(services: Services) -> None:
    now = [100.0]
    key = progress_key(7, TOKEN)
    progress = ImportProgress(services.redis, key, clock=lambda: now[0])

    def stored() -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in services.redis.hgetall(key).items()}

    progress.stage("rows_checked", 1000)
    assert stored() == {"stage": "rows_checked", "done": "0", "total": "1000"}
    progress.advance(10)
    assert stored()["done"] == "0"  # too soon after the last write
    now[0] += EVERY_SECONDS
    progress.advance(10)
    assert stored()["done"] == "20"
    progress.advance(980)
    assert stored()["done"] == "1000"  # the stage's end, however soon
    assert 0 < services.redis.ttl(key) <= 600
