"""The providers of one fault run: a local stand-in of each channel's API that, while `faulty`, misbehaves in that
provider's own way, and counts every SMS it accepted by our outbound id.

- Twilio: 429 and 500 in its error body, and one time in six an answer after the gateway's timeout.
- Tencent Cloud SMS: its throttling code (RequestLimitExceeded, in its error envelope, HTTP 200), HTTP 502 and
  503 from its front, and one time in six an answer after the SDK's timeout.
- SMS Gateway for Android (two phones): 503 (the app's queue is full) and 500, and one time in six an answer after
  the client's timeout.

A late answer still takes the SMS, as the provider may: the sender cannot know it went.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dispatch import android_phones
from tests.standins.android import AndroidStandIn
from tests.standins.tencent import TencentStandIn
from tests.twilio_standin import TwilioStandIn

ACCOUNT_SID = "AC" + "c" * 32
AUTH_TOKEN = "chaos-auth-token-0123456789abcdef"
HOTLINE_NUMBER = "+8657112345678"
PUBLIC_URL = "https://hotline.example.org"
GATEWAY_TIMEOUT = 10.0  # every gateway's own timeout (Twilio's, the Tencent SDK's, the Android client's)
TENCENT_SECRET_ID = "AKID" + "Ch4" * 10
TENCENT_SECRET_KEY = "Kc7" * 11
TENCENT_CALLBACK_SECRET = "chaos-callback-secret-0123456789"
TENCENT_APP_ID = "1400006666"
TENCENT_SIGN = "社区热线"
ANDROID_SIGNING_KEY = "chaos-signing-key-for-the-phones"
PHONES = ("a", "b")  # the Android community's two phones, by name


def fault(turn: int) -> str:
    """What the `turn`-th request while faulty gets: "throttled" (three in six), "error" (two) or "late" (one)."""
    return {1: "throttled", 3: "throttled", 5: "throttled", 2: "error", 4: "error"}.get(turn % 6, "late")


@dataclass
class Faults:
    """A stand-in's fault bookkeeping: while `faulty`, each request takes the next fault in turn, counted as a refusal
    or a late answer."""

    faulty: bool = False
    refusals: int = 0
    late: int = 0
    _turn: int = 0

    def next_fault(self) -> str | None:
        """The fault this request gets ("throttled", "error", "late"), or None when the provider behaves."""
        if not self.faulty:
            return None
        self._turn += 1
        how = fault(self._turn)
        if how == "late":
            self.late += 1
        else:
            self.refusals += 1
        return how


@dataclass
class FaultyTwilio(Faults, TwilioStandIn):
    """Twilio's REST API. Every message created is counted by our outbound id, read from its StatusCallback URL
    (`?o=<id>`)."""

    created: Counter[int] = field(default_factory=Counter)

    async def _create(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        how = self.next_fault()
        if how == "throttled":
            return JSONResponse({"code": 20429, "message": "Too Many Requests", "status": 429}, 429)
        if how == "error":
            return JSONResponse({"code": 20500, "message": "Internal Server Error", "status": 500}, 500)
        if how == "late":
            await asyncio.sleep(GATEWAY_TIMEOUT + 1)
        callback = parse_qs(urlsplit(form.get("StatusCallback", "")).query).get("o", [""])[0]
        if callback.isdigit():
            self.created[int(callback)] += 1
        sid = "SM" + uuid.uuid4().hex
        return JSONResponse({"sid": sid, "status": "queued", "to": form.get("To"), "body": form.get("Body")}, 201)

    @property
    def accepted(self) -> Counter[int]:
        return Counter(self.created)


@dataclass
class FaultyTencent(Faults, TencentStandIn):
    """Tencent Cloud SMS's SendSms (checking the SDK's TC3 signature). Every SMS it took is counted by our outbound
    id, read from the SessionContext the gateway sets."""

    async def _send_sms(self, request: Request) -> Response:
        await request.body()  # read first: the stand-in then reads it from Starlette's cache, at once
        how = self.next_fault()
        if how == "throttled":
            self.fail_next.insert(0, ("error", "RequestLimitExceeded"))
        elif how == "error":
            self.fail_next.insert(0, ("http", 502 if self._turn % 6 == 2 else 503))
        elif how == "late":  # taken and recorded, answered only after the SDK has given up
            self.fail_next.insert(0, ("late", ""))
        return await super()._send_sms(request)

    @property
    def accepted(self) -> Counter[int]:
        context = (str(sent.body.get("SessionContext") or "") for sent in self.sent)
        return Counter(int(value) for value in context if value.isdigit())


@dataclass
class FaultyPhone(Faults, AndroidStandIn):
    """One phone's local server (checking the client's Basic auth; a message id it has already is a 409). Every
    SMS it took is counted by our outbound id, read from the message id the gateway gives it (`hl<id>-…`)."""

    async def _send(self, request: Request) -> Response:
        await request.body()  # read first: the stand-in then reads it from Starlette's cache, at once
        how = self.next_fault()
        if how == "throttled":
            self.fail_next.insert(0, 503)  # the app's answer when its queue is full
        elif how == "error":
            self.fail_next.insert(0, 500)
        elif how == "late":  # taken and recorded, answered only after the client has given up
            self.hang_next = 1
        try:
            return await super()._send(request)
        finally:
            self.hang_next = 0  # not taken (a repeat's 409): never left for the next request

    @property
    def accepted(self) -> Counter[int]:
        ours = (android_phones.outbound_id_of(message_id) for message_id in self.messages)
        return Counter(outbound_id for outbound_id in ours if outbound_id is not None)


Faulty = FaultyTwilio | FaultyTencent | FaultyPhone


@dataclass
class Channel:
    """One channel of the run: its gateway's name, its community in the register, and its provider's stand-ins
    (one per phone for Android)."""

    name: str
    community_id: int
    standins: list[Faulty]

    def set_faulty(self, on: bool) -> None:
        for standin in self.standins:
            standin.faulty = on

    @property
    def accepted(self) -> Counter[int]:
        total: Counter[int] = Counter()
        for standin in self.standins:
            total.update(standin.accepted)
        return total

    @property
    def refusals(self) -> int:
        return sum(standin.refusals for standin in self.standins)

    @property
    def late(self) -> int:
        return sum(standin.late for standin in self.standins)

    def stats(self) -> dict[str, int]:
        return {"accepted": sum(self.accepted.values()), "refused": self.refusals, "late": self.late}


@contextlib.contextmanager
def providers() -> Iterator[tuple[list[Channel], dict[str, str]]]:
    """Start every channel's stand-ins; yields the channels (Twilio's, the default, first) and the settings that
    point the hotline at them."""
    with contextlib.ExitStack() as stack:
        twilio = stack.enter_context(FaultyTwilio())
        tencent = stack.enter_context(FaultyTencent(TENCENT_SECRET_ID, TENCENT_SECRET_KEY))
        phones = [stack.enter_context(FaultyPhone()) for _ in PHONES]
        channels = [Channel("twilio", 1, [twilio]), Channel("tencent", 2, [tencent]), Channel("android", 3, phones)]
        env = {
            "HOTLINE_GATEWAY": "twilio",
            "HOTLINE_GATEWAYS": "tencent,android",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": HOTLINE_NUMBER,
            "TWILIO_API_BASE_URL": twilio.base_url,
            "TENCENT_SECRET_ID": TENCENT_SECRET_ID,
            "TENCENT_SECRET_KEY": TENCENT_SECRET_KEY,
            "TENCENT_SMS_APP_ID": TENCENT_APP_ID,
            "TENCENT_SMS_SIGN_NAME": TENCENT_SIGN,
            "TENCENT_SMS_ENDPOINT": tencent.endpoint,
            "TENCENT_CALLBACK_SECRET": TENCENT_CALLBACK_SECRET,
            "ANDROID_PHONES": ",".join(phone.setting(name) for name, phone in zip(PHONES, phones, strict=True)),
            "ANDROID_SIGNING_KEY": ANDROID_SIGNING_KEY,
            "ANDROID_DAILY_LIMIT": "100000",  # the run is about faults, not about a SIM's daily limit
        }
        yield channels, env
