"""The load: signed inbound SMS from registered residents, posted at a steady pace, each retried as Twilio
would until it is answered 200, and some delivered twice on purpose."""

from __future__ import annotations

import http.client
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from tests.chaos.cluster import ACCOUNT_SID, AUTH_TOKEN, HOTLINE_NUMBER, PUBLIC_URL

# One need each, so the tasks a run must end with follow from the messages alone.
BODIES = {"想买菜": "groceries", "帮我买药": "medicine", "倒垃圾": "rubbish", "取快递": "parcel"}
RESIDENT_PHONE_BASE = 13900000000  # benchmarks.register_fixture: resident i has +86 (13900000000 + i)


@dataclass(frozen=True)
class Sms:
    sid: str
    resident: int  # 0-based index in the generated register; household id is resident + 1
    body: str
    payload: bytes
    signature: str


def messages(count: int, residents: int, seed: int = 7) -> list[Sms]:
    """`count` signed inbound SMS, spread over `residents`, in a fixed order for a given seed."""
    rng = random.Random(seed)
    validator = RequestValidator(AUTH_TOKEN)
    made = []
    for i in range(count):
        resident = rng.randrange(residents)
        body = rng.choice(list(BODIES))
        sid = f"SM{seed:08x}{i:024x}"
        params = {
            "ToCountry": "CN",
            "ToState": "",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "ToCity": "",
            "FromZip": "",
            "SmsSid": sid,
            "FromState": "",
            "SmsStatus": "received",
            "FromCity": "",
            "Body": body,
            "FromCountry": "CN",
            "To": HOTLINE_NUMBER,
            "ToZip": "",
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": f"+86{RESIDENT_PHONE_BASE + resident}",
            "ApiVersion": "2010-04-01",
        }
        signature = validator.compute_signature(PUBLIC_URL + "/twilio/sms", params)
        made.append(Sms(sid, resident, body, urlencode(params).encode(), signature))
    return made


@dataclass
class Tally:
    """What the senders saw. `acknowledged`: the SIDs answered 200 at least once."""

    acknowledged: set[str] = field(default_factory=set)
    deliveries: int = 0
    answers: dict[int, int] = field(default_factory=dict)  # HTTP status (0: no answer) → how many
    given_up: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, status: int) -> None:
        with self.lock:
            self.deliveries += 1
            self.answers[status] = self.answers.get(status, 0) + 1


def send_all(
    port: int, sms: list[Sms], seconds: float, *, threads: int = 16, twice: float = 0.05, give_up: float = 30.0
) -> Tally:
    """Post every message at an even pace over `seconds`; retry each (as Twilio would) until it is answered 200
    or `give_up` seconds have passed since it was due. A share `twice` is posted again after its 200."""
    tally = Tally()
    work: queue.Queue[tuple[float, Sms, bool] | None] = queue.Queue()
    start = time.monotonic() + 0.5
    rng = random.Random(11)
    for i, message in enumerate(sms):
        work.put((start + i * seconds / len(sms), message, rng.random() < twice))
    for _ in range(threads):
        work.put(None)
    senders = [threading.Thread(target=_sender, args=(port, work, tally, give_up)) for _ in range(threads)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    return tally


def _sender(port: int, work: queue.Queue[tuple[float, Sms, bool] | None], tally: Tally, give_up: float) -> None:
    connection: http.client.HTTPConnection | None = None
    while (item := work.get()) is not None:
        due, message, again = item
        time.sleep(max(0.0, due - time.monotonic()))
        for _ in range(2 if again else 1):
            while True:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
                status = _post(connection, message)
                tally.count(status)
                if status == 200:
                    with tally.lock:
                        tally.acknowledged.add(message.sid)
                    break
                if status == 0:
                    connection.close()
                    connection = None
                if time.monotonic() > due + give_up:
                    with tally.lock:
                        tally.given_up.add(message.sid)
                    break
                time.sleep(0.25)
    if connection is not None:
        connection.close()


def _post(connection: http.client.HTTPConnection, message: Sms) -> int:
    """One delivery: the status answered, or 0 if there was no answer (refused, reset, timed out)."""
    try:
        connection.request(
            "POST",
            "/twilio/sms",
            body=message.payload,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": message.signature,
                "I-Twilio-Idempotency-Token": message.sid.lower(),
                "Host": "hotline.example.org",
            },
        )
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return 0
