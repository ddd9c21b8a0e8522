"""A hospital stay tells the care circle: staff set a resident away in hospital with "tell the family" on, and each
contact who may be messaged gets one SMS naming the resident and the return date; nobody else, and never twice.

Real parts: SQLite (or PostgreSQL), redis-server, an RQ worker, Starlette's TestClient, the local gateway; the
family's phones are the local outbox.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.testclient import TestClient

from hotline.services import Services
from tests.api_helpers import bearer, issue
from tests.checkin_helpers import texts_to
from tests.conftest import Clock, run_worker
from tests.console_helpers import make_user, sign_in
from tests.test_care_circle import COUSIN, DAUGHTER, SON, add


def test_a_hospital_stay_tells_each_reachable_contact_once_and_other_absences_tell_nobody(
    client: TestClient, services: Services, clock: Clock, town: dict[str, int]
) -> None:
    zhao, wu = town["赵姐"], town["吴叔"]
    add(services, zhao, "赵芳", "女儿", DAUGHTER)
    add(services, zhao, "赵磊", "表弟", COUSIN, consent="")  # no consent recorded: never told
    add(services, wu, "吴强", "儿子", SON)
    run_worker(services)
    welcomed = {phone: len(texts_to(services, phone)) for phone in (DAUGHTER, COUSIN, SON)}
    assert welcomed == {DAUGHTER: 1, COUSIN: 0, SON: 1}
    back = (clock.now + timedelta(days=6)).date().isoformat()
    later = (clock.now + timedelta(days=9)).date().isoformat()

    make_user(services)
    csrf = sign_in(client)
    form = {"reason": "hospital", "tell_family": "1", "return_on": back, "csrf_token": csrf}
    for key, day in (("k-1", back), ("k-1", back), ("k-2", later)):  # a double click, then a later return date
        sent = client.post(f"/register/residents/{zhao}/absence", data={**form, "return_on": day, "request_key": key})
        assert sent.status_code == 200, sent.text
    run_worker(services)
    told = texts_to(services, DAUGHTER)[welcomed[DAUGHTER] :]
    assert len(told) == 1 and "赵姐" in told[0] and "住院" in told[0] and back in told[0], told
    assert texts_to(services, COUSIN) == []
    assert len(texts_to(services, SON)) == welcomed[SON]  # another resident's circle hears nothing

    # Staff untick "tell the family", or the stay is not in hospital: the circle is not told.
    token = bearer(issue(services))
    for key, body in (
        ("a-1", {"reason": "hospital", "return_on": back, "tell_family": False}),
        ("a-2", {"reason": "family", "return_on": later}),
    ):
        answer = client.post(f"/api/v1/residents/{wu}/absence", json=body, headers={**token, "Idempotency-Key": key})
        assert answer.status_code in (200, 201), answer.text
    run_worker(services)
    assert len(texts_to(services, SON)) == welcomed[SON]

    # Through the API, a hospital stay with the family told: once, even when the request is sent again.
    wu_back = {"reason": "hospital", "return_on": later, "tell_family": True}
    client.post(f"/api/v1/residents/{wu}/absence/end", headers=token)
    for _ in range(2):
        answer = client.post(
            f"/api/v1/residents/{wu}/absence", json=wu_back, headers={**token, "Idempotency-Key": "a-3"}
        )
        assert answer.status_code in (200, 201), answer.text
    run_worker(services)
    son_told = texts_to(services, SON)[welcomed[SON] :]
    assert len(son_told) == 1 and "吴叔" in son_told[0] and later in son_told[0], son_told
