"""The JSON API against its own OpenAPI document, with schemathesis, in-process on the ASGI app.

Every operation of `/api/v1/openapi.json` gets generated requests (valid ones, invalid ones the document rules
out, and some with a lone surrogate in a string) with an admin token, over a small community with tasks; each
answer must be no 5xx, and conform to the document: status code, content type, and body schema. CI runs a fixed
set per operation; `HOTLINE_FUZZ_EXAMPLES=N` runs N random examples per operation instead.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.python import asgi
from starlette.testclient import TestClient

from dispatch.models import StaffRole
from dispatch.tokens import create_token
from hotline.api.openapi import DOCUMENT
from hotline.services import Services
from tests.conftest import post_signed, run_worker, sms_params
from tests.console_helpers import make_user, sign_in
from tests.test_fuzz_inputs import FUZZ_EXAMPLES

RESIDENT = "+8613800138000"  # 梁阿姨 of the `community` fixture


@pytest.fixture
def admin_token(client: TestClient, services: Services, community: None) -> str:
    """An admin token, over a register whose resident has three tasks to act on."""
    for body in ("想买点菜", "药吃完了", "头晕"):
        assert post_signed(client, services, "/twilio/sms", sms_params(body, from_phone=RESIDENT)).status_code == 200
    run_worker(services)
    with services.sessions.begin() as session:
        return create_token(session, name="schemathesis", role=StaffRole.ADMIN)[1]


# A body can be well formed and still refused by the register (a phone number that is no number, a backup liaison
# without a primary): that is a 422, which no JSON schema can foresee. A 400 (malformed) or a 5xx still fails.
CONFIG = schemathesis.config.SchemathesisConfig.from_str("""
# The token is the test's (an admin's); schemathesis does not make up an Authorization header of its own.
generation.with-security-parameters = false

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "422"]

# A coverage trend may end at most 366 days after today: a bound that moves with the date, so no schema states it.
[[operations]]
include-path = "/reports/coverage"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403"]
""")
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


def _string_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Where the strings of a JSON value are: a path of keys and indexes to each."""
    if isinstance(value, str):
        return [path]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return [found for key, child in items for found in _string_paths(child, (*path, key))]


def _with_surrogate(body: Any, path: tuple[Any, ...], surrogate: str) -> Any:
    changed = copy.deepcopy(body)
    parent = changed
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = parent[path[-1]] + surrogate
    return changed


@schema.hook("flatmap_body")
def lone_surrogates(ctx: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    """Schemathesis never writes a lone surrogate ("\\ud800"), though JSON may: some bodies get one in a string."""
    paths = [path for path in _string_paths(body) if path]
    if not paths:
        return st.just(body)
    surrogates = st.sampled_from(["\ud800", "\udfff"])
    changed = st.builds(_with_surrogate, st.just(body), st.sampled_from(paths), surrogates)
    return st.one_of(st.just(body), changed)


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES or 25,
    derandomize=not FUZZ_EXAMPLES,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_api_operation_conforms_to_its_document(
    case: schemathesis.Case[Any], client: TestClient, admin_token: str
) -> None:
    case.operation.schema.app = client.app  # this test's app, on this test's database
    try:
        case.call_and_validate(app=client.app, headers={"Authorization": f"Bearer {admin_token}"})
    finally:
        asgi.shutdown_lifespans()  # schemathesis keeps each app's lifespan running until told


# ── What longer runs found, pinned ───────────────────────────────────────────────────────────────────────────


def test_ids_too_large_for_the_database_are_not_found_not_a_server_error(
    client: TestClient, services: Services, admin_token: str
) -> None:
    """2,147,483,648 is past PostgreSQL's integer: it was a 500 there, in the API and in the console."""
    bearer = {"Authorization": f"Bearer {admin_token}"}
    for path in ("/tasks/2147483648", "/residents/9999999999", "/notices/2147483648"):
        response = client.get("/api/v1" + path, headers=bearer)
        assert response.status_code == 404 and response.json()["error"], path
    make_user(services)
    sign_in(client)
    assert client.get("/register/residents/2147483648").status_code == 404
    assert client.get("/tasks/2147483648").status_code == 404


def test_a_whole_number_written_as_3_0_is_a_whole_number(
    client: TestClient, services: Services, admin_token: str
) -> None:
    """JSON, and the document's schema, make no difference between 1 and 1.0; the API refused 1.0 with a 422."""
    bearer = {"Authorization": f"Bearer {admin_token}"}
    assign = client.post("/api/v1/tasks/1/assign", json={"liaison_id": 2.0}, headers=bearer)
    assert assign.status_code == 200, assign.text
    assert assign.json()["task"]["assignee_id"] == 2
    half = client.post("/api/v1/tasks/1/assign", json={"liaison_id": 2.5}, headers=bearer)
    assert half.status_code == 422


def test_every_api_path_answers_json_even_with_a_newline_in_it(client: TestClient, admin_token: str) -> None:
    """The API's Mount stops matching at a newline, so /api/v1/tasks/%0A fell through to the console's plain 404."""
    response = client.post("/api/v1/tasks/1%0A/cancel", headers={"Authorization": f"Bearer {admin_token}"})
    assert response.status_code == 404 and response.headers["content-type"] == "application/json"
    assert client.get("/no/such/page").headers["content-type"].startswith("text/plain")  # the console's stays
