"""The load: inbound SMS from registered residents, each in its channel's own format and signing, posted to that
channel's webhook at a steady pace, each retried as its provider retries until it is answered (2xx), and some
delivered twice on purpose.

- Twilio: the form it posts to /twilio/sms, with X-Twilio-Signature; answered 200.
- Tencent Cloud SMS: the reply callback's JSON (extend, mobile, nationcode, sign, text, time) to /tencent/sms/reply
  with the secret the callback URL carries; answered 200. Tencent calls again until it is answered.
- SMS Gateway for Android: the app's `sms:received` webhook to /android/events?phone=<name>, signed with the
  signing key and the time of each try (the app signs every try afresh); answered 204. The app retries.
"""

from __future__ import annotations

import http.client
import json
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from hotline.webhooks.android_sms import inbound_sid
from hotline.webhooks.tencent_sms import reply_message
from tests.chaos.communities import RESIDENT_PHONE_BASE, channel_index
from tests.chaos.providers import (
    ACCOUNT_SID,
    ANDROID_SIGNING_KEY,
    AUTH_TOKEN,
    HOTLINE_NUMBER,
    PHONES,
    PUBLIC_URL,
    TENCENT_CALLBACK_SECRET,
    TENCENT_SIGN,
)
from tests.standins.android import hmac_signature

CHANNELS = ("twilio", "tencent", "android")  # by `channel_index`
# One need each, so the tasks a run must end with follow from the messages alone.
BODIES = {"想买菜": "groceries", "帮我买药": "medicine", "倒垃圾": "rubbish", "取快递": "parcel"}
SENT_FROM = 1_900_000_000  # Unix seconds: when the first message was sent, as its provider says; one second apart


@dataclass(frozen=True)
class Sms:
    key: str  # the load's own name for it (Twilio's SID)
    channel: str
    resident: int  # 0-based index in the generated register; household id is resident + 1
    body: str
    stored_sid: str  # the SID the hotline stores it under (Tencent's and Android's: made from what it says)
    path: str
    payload: bytes
    headers: dict[str, str]

    def request(self) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one try. The Android app signs each try with its own time."""
        if self.channel != "android":
            return self.payload, self.headers
        stamp = str(int(time.time()))
        signature = hmac_signature(ANDROID_SIGNING_KEY, self.payload, stamp)
        return self.payload, {**self.headers, "X-Signature": signature, "X-Timestamp": stamp}


def messages(count: int, residents: int, seed: int = 7) -> list[Sms]:
    """`count` inbound SMS, spread over `residents`, each in its resident's channel's format, in a fixed order for a
    given seed."""
    rng = random.Random(seed)
    validator = RequestValidator(AUTH_TOKEN)
    made = []
    for i in range(count):
        resident = rng.randrange(residents)
        body = rng.choice(list(BODIES))
        key = f"SM{seed:08x}{i:024x}"
        channel = CHANNELS[channel_index(resident)]
        mobile = str(RESIDENT_PHONE_BASE + resident)
        if channel == "twilio":
            made.append(_twilio(validator, key, resident, body, f"+86{mobile}"))
        elif channel == "tencent":
            reply: dict[str, object] = {"extend": "", "mobile": mobile, "nationcode": "86", "sign": TENCENT_SIGN}
            reply |= {"text": body, "time": SENT_FROM + i}
            stored = reply_message(reply, "CN").message_sid
            path = f"/tencent/sms/reply?s={TENCENT_CALLBACK_SECRET}"
            payload = json.dumps(reply, ensure_ascii=False).encode()
            made.append(Sms(key, channel, resident, body, stored, path, payload, {"Content-Type": "application/json"}))
        else:
            phone = PHONES[resident % len(PHONES)]
            received = time.strftime("%Y-%m-%dT%H:%M:%S.000+08:00", time.gmtime(SENT_FROM + i + 8 * 3600))
            message_id = f"{rng.getrandbits(32):08x}"  # the app's: a 32-bit hash
            sms = {
                "messageId": message_id,
                "message": body,
                "sender": f"+86{mobile}",
                "recipient": None,
                "phoneNumber": f"+86{mobile}",
                "simNumber": 1,
                "receivedAt": received,
            }
            envelope = {
                "deviceId": f"chaos-{phone}",
                "event": "sms:received",
                "id": f"wh{i:012x}",  # the same on every try of one webhook
                "webhookId": "hotline-sms-received",
                "payload": sms,
            }
            stored = inbound_sid(phone, message_id, f"+86{mobile}", received, body)
            payload = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
            path = f"/android/events?phone={phone}"
            made.append(Sms(key, channel, resident, body, stored, path, payload, {"Content-Type": "application/json"}))
    return made


def _twilio(validator: RequestValidator, sid: str, resident: int, body: str, sender: str) -> Sms:
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
        "From": sender,
        "ApiVersion": "2010-04-01",
    }
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": validator.compute_signature(PUBLIC_URL + "/twilio/sms", params),
        "I-Twilio-Idempotency-Token": sid.lower(),
    }
    return Sms(sid, "twilio", resident, body, sid, "/twilio/sms", urlencode(params).encode(), headers)


@dataclass
class Tally:
    """What the senders saw. `acknowledged`: the keys answered 2xx at least once."""

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
    """Post every message at an even pace over `seconds`; retry each (as its provider would) until it is answered
    2xx or `give_up` seconds have passed since it was due. A share `twice` is posted again after its answer."""
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
                if 200 <= status < 300:
                    with tally.lock:
                        tally.acknowledged.add(message.key)
                    break
                if status == 0:
                    connection.close()
                    connection = None
                if time.monotonic() > due + give_up:
                    with tally.lock:
                        tally.given_up.add(message.key)
                    break
                time.sleep(0.25)
    if connection is not None:
        connection.close()


def _post(connection: http.client.HTTPConnection, message: Sms) -> int:
    """One delivery: the status answered, or 0 if there was no answer (refused, reset, timed out)."""
    body, headers = message.request()
    try:
        connection.request("POST", message.path, body=body, headers={**headers, "Host": "hotline.example.org"})
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return 0
