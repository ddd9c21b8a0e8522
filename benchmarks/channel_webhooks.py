"""The other channels' inbound SMS webhooks (B10): Tencent Cloud SMS's reply callback and SMS Gateway for Android's
`sms:received`, each measured as B1 measures Twilio's, against the bare route, in the same run as B1.

On B1's two servers, once B1 is done with them (see benchmarks/sms_throughput.py): the same `hotline serve` on the
same data dir and register, with the Tencent callback secret and the Android phones and signing key in its settings
(a webhook does the same work whichever gateway sends), and the same bare Starlette "hello" route, which answers on
each channel's path too. For each channel in turn, wrk, with B1's threads and connections, posts what the provider
posts for a resident's SMS from registered residents, every request a different message, carrying the callback
secret (Tencent) or signed with the phones' key and a fresh timestamp (Android), at C connections for S seconds;
baseline and ours take turns, R times, and the medians are reported.

Afterwards every ours-run is counted: the inbound messages stored against the requests wrk saw taken (2xx). Every
request taken must be a stored row, and every stored row one that wrk sent; otherwise the benchmark stops with
what differs, since its figures would be those of a webhook that does not do its work. Only the web server runs
(no worker): this measures the webhook, and the queued work waits in Redis.

    python -m benchmarks.channel_webhooks [RESIDENTS [SECONDS [RUNS]]]   (runs B1 first, on the same servers)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select

from benchmarks import sms_throughput
from benchmarks.common import Finding, median, verdict
from benchmarks.sms_throughput import CONNECTIONS, RESIDENT_PHONE, THREADS, WrkRun, wrk
from dispatch.db import make_engine
from dispatch.models import InboundMessage
from hotline.webhooks.android_sms import inbound_sid
from hotline.webhooks.paths import ANDROID_EVENTS, Tencent

SCRIPT = Path(__file__).with_name("channel_posts.lua")
TEXT = "想买点米和菜，还有药"  # B1's words
CALLBACK_SECRET = "Tc-callback-" + "bench" * 5
SIGNING_KEY = "a-long-signing-key-for-the-phones"
PHONES = ("a", "b")  # two phones share the community's SMS
BEIJING = timezone(timedelta(hours=8))
SENT_FROM = 1_900_000_000  # when the first message was sent (Unix seconds); each next one a second later

# (sequence number, resident) -> one line of channel_posts.lua's file, and the SID the hotline stores it under
Writer = Callable[[int, int], tuple[str, str]]


@dataclass(frozen=True)
class Channel:
    name: str  # as the report names it
    env: dict[str, str]  # the settings its webhook needs
    sid_prefix: str  # of the SIDs its inbound messages are stored under
    request: Writer


def tencent_reply(seq: int, resident: int) -> tuple[str, str]:
    """Tencent's reply callback (回复短信) for one SMS, on the URL that carries the callback secret. Its SID, as
    `tencent_sms.reply_message` makes it: a hash of the country code, number, time and text."""
    mobile = str(RESIDENT_PHONE + resident)
    data = {
        "extend": "",
        "mobile": mobile,
        "nationcode": "86",
        "sign": "社区热线",
        "text": TEXT,
        "time": SENT_FROM + seq,
    }
    key = json.dumps(["86", mobile, SENT_FROM + seq, TEXT], ensure_ascii=False).encode()
    body = json.dumps(data, ensure_ascii=False)
    line = f"{Tencent.REPLY}?s={CALLBACK_SECRET}\t{body}\tContent-Type\tapplication/json"
    return line, "TC" + hashlib.sha256(key).hexdigest()[:32]


def android_received(seq: int, resident: int) -> tuple[str, str]:
    """The app's `sms:received` webhook for one SMS, from one of the phones, signed as the app signs it now."""
    phone = PHONES[seq % len(PHONES)]
    sender = f"+86{RESIDENT_PHONE + resident}"
    message_id = f"{random.getrandbits(32):08x}"  # the app's: a 32-bit hash
    received_at = datetime.fromtimestamp(SENT_FROM + seq, BEIJING).isoformat(timespec="milliseconds")
    payload = {
        "messageId": message_id,
        "message": TEXT,
        "sender": sender,
        "recipient": None,
        "phoneNumber": sender,
        "simNumber": 1,
        "receivedAt": received_at,
    }
    envelope = {
        "deviceId": f"ffffffffceb0b1db0000018e937c815{PHONES.index(phone)}",
        "event": "sms:received",
        "id": secrets.token_urlsafe(15),
        "webhookId": "hotline-sms-received",
        "payload": payload,
    }
    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
    stamp = str(int(time.time()))
    signature = hmac.new(SIGNING_KEY.encode(), body.encode() + stamp.encode(), hashlib.sha256).hexdigest()
    line = (
        f"{ANDROID_EVENTS}?phone={phone}\t{body}\tContent-Type\tapplication/json"
        f"\tX-Signature\t{signature}\tX-Timestamp\t{stamp}"
    )
    return line, inbound_sid(phone, message_id, sender, received_at, TEXT)


CHANNELS = (
    Channel("Tencent Cloud SMS, reply callback", {"TENCENT_CALLBACK_SECRET": CALLBACK_SECRET}, "TC", tencent_reply),
    Channel(
        "SMS Gateway for Android, sms:received",
        # The phones are never reached: no worker runs.
        {
            "ANDROID_PHONES": ",".join(f"{name}=http://sms:Pa55word@127.0.0.1:9/{name}" for name in PHONES),
            "ANDROID_SIGNING_KEY": SIGNING_KEY,
        },
        "AG",
        android_received,
    ),
)


@dataclass
class Messages:
    """The next message's number, across every run: no two requests of the benchmark are the same message."""

    next: int = 0

    def write(self, prefix: Path, channel: Channel, per_thread: int, residents: int, run: int) -> list[list[str]]:
        """One file of requests per wrk thread (`prefix.N`); returns each thread's SIDs in order."""
        sids: list[list[str]] = []
        pick = random.Random(run)  # noqa: S311 - which resident sends: reproducible, not secret
        for thread in range(THREADS):
            thread_sids = []
            with open(f"{prefix}.{thread}", "w", encoding="utf-8") as out:
                for _ in range(per_thread):
                    line, sid = channel.request(self.next, pick.randrange(residents))
                    self.next += 1
                    out.write(line + "\n")
                    thread_sids.append(sid)
            sids.append(thread_sids)
        return sids


@dataclass(frozen=True)
class Counted:
    result: WrkRun
    stored: int
    lost: int  # taken (2xx) but not stored


@dataclass
class ChannelWebhooks:
    """B10, as sms_throughput.main's `also`: each channel's runs on B1's servers, then their count and report."""

    seconds: float
    runs: int
    env: dict[str, str] = field(
        default_factory=lambda: {name: value for channel in CHANNELS for name, value in channel.env.items()}
    )
    # per channel: the baseline's runs, and ours with the SIDs each thread had to send
    measured: list[tuple[Channel, list[WrkRun], list[tuple[WrkRun, list[list[str]]]]]] = field(default_factory=list)
    residents: int = 0

    def measure(self, port: int, bare_port: int, tmp: Path, residents: int) -> None:
        """No warm-up: both servers are warm from B1, and what is new here (reading JSON, an HMAC) is warm after
        the first few of a run's thousands of requests."""
        self.residents = residents
        requests = tmp / "channel-requests"
        numbers = Messages()
        args = (str(requests),)
        for channel in CHANNELS:
            # The bare route's first run: requests that ours never sees.
            numbers.write(requests, channel, 2000, residents, 0)
            baseline: list[WrkRun] = []
            ours: list[tuple[WrkRun, list[list[str]]]] = []
            for run in range(1, self.runs + 1):
                baseline.append(wrk(bare_port, requests, self.seconds, SCRIPT, args))
                # Enough distinct requests for ours to run as fast as the bare route did, and then some.
                per_thread = int(baseline[-1].rate * self.seconds * 1.2 / THREADS) + 1000
                sids = numbers.write(requests, channel, per_thread, residents, run)
                ours.append((wrk(port, requests, self.seconds, SCRIPT, args), sids))
            self.measured.append((channel, baseline, ours))

    def finish(self, database_url: str) -> tuple[str, list[Finding]]:
        lines = [
            f"### B10 · The other channels' inbound SMS webhooks ({datetime.now(UTC):%Y-%m-%d})",
            "",
            f"As B1, on B1's servers right after it: {self.residents:,} registered residents; SQLite and the embedded "
            "redis-server; `hotline serve` (one uvicorn process) alone, no worker, with each channel's settings. "
            f"wrk: {THREADS} threads, {CONNECTIONS} connections, {self.seconds:g} s per run, {self.runs} runs taking "
            "turns with the baseline, one channel after the other.",
            "Each request: a different SMS from a registered resident, as the provider posts it. Tencent's reply "
            "callback (mobile, nationcode, text, sign, time, extend) on the URL with the callback secret; the "
            "Android app's `sms:received` from one of two phones, signed with the key and a timestamp (HMAC-SHA256).",
            'Baseline: the bare Starlette "hello" route on the same path, same uvicorn settings, same wrk, same '
            "requests.",
            "",
        ]
        findings: list[Finding] = []
        for channel, baseline, ours in self.measured:
            channel_lines, channel_findings = report(channel, baseline, count(database_url, channel, ours))
            lines += channel_lines
            findings += channel_findings
        return "\n".join(lines).rstrip(), findings


def count(database_url: str, channel: Channel, ours: list[tuple[WrkRun, list[list[str]]]]) -> list[Counted]:
    """Each run's stored rows. Rows may also exist for requests still in flight when wrk stopped (it closes its
    connections; the server had already stored them): at most `issued - taken`.

    Raises:
        SystemExit: a run had nothing taken, fewer rows than requests taken, or rows for requests never sent.
    """
    engine = make_engine(database_url)
    with engine.connect() as conn:
        stored = set(
            conn.scalars(
                select(InboundMessage.provider_sid).where(InboundMessage.provider_sid.like(f"{channel.sid_prefix}%"))
            )
        )
    engine.dispose()
    counted, sent_all, wrong = [], set[str](), []
    for run, (result, sids) in enumerate(ours, 1):
        sent = {sid for thread_sids in sids for sid in thread_sids[: result.issued]}
        sent_all |= sent
        mine = stored & sent
        counted.append(Counted(result, len(mine), max(0, result.ok - len(mine))))
        if result.ok == 0 or len(mine) < result.ok:
            wrong.append(f"run {run}: {result.ok:,} taken, {len(mine):,} stored ({result.other:,} refused)")
    if stored - sent_all:
        wrong.append(f"{len(stored - sent_all):,} stored rows wrk never sent")
    if wrong:
        raise SystemExit(f"B10 {channel.name}: the webhook did not store what it took: " + "; ".join(wrong))
    return counted


def report(channel: Channel, baseline: list[WrkRun], counted: list[Counted]) -> tuple[list[str], list[Finding]]:
    """The channel's table, its medians against its targets (B1's), and its summary lines."""
    ours_rate = median([c.result.rate for c in counted])
    bare_rate = median([r.rate for r in baseline])
    ours_p50 = median([c.result.p50_us / 1000 for c in counted])
    ours_p99 = median([c.result.p99_us / 1000 for c in counted])
    lost = sum(c.lost for c in counted)
    ratio = ours_rate / bare_rate
    lines = [
        f"**{channel.name}**",
        "",
        "| run | baseline req/s | baseline p99 ms | ours req/s | ours p50 ms | ours p99 ms | taken (2xx) | stored "
        "| lost |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, (base, c) in enumerate(zip(baseline, counted, strict=True), 1):
        lines.append(
            f"| {i} | {base.rate:,.0f} | {base.p99_us / 1000:.1f} | {c.result.rate:,.0f} | "
            f"{c.result.p50_us / 1000:.1f} | {c.result.p99_us / 1000:.1f} | {c.result.ok:,} | {c.stored:,} | {c.lost} |"
        )
    problems = [
        f"run {i}: {what}"
        for i, c in enumerate(counted, 1)
        for what in (
            f"{c.result.other + c.result.errors} answers not 2xx" if c.result.other or c.result.errors else "",
            "ran out of distinct requests (void)" if c.result.wrapped else "",
        )
        if what
    ]
    lines += [
        "",
        f"Median: ours {ours_rate:,.0f} req/s against the bare route's {bare_rate:,.0f}: **{ratio:.1%}** of the "
        f"limit. Ours p50 {ours_p50:.1f} ms, p99 {ours_p99:.1f} ms. Lost: {lost}."
        + (f" Problems: {'; '.join(problems)}." if problems else ""),
        f"Targets (B1's): ≥ 20% of the bare route {verdict(ratio >= 0.2)}; p99 ≤ 50 ms {verdict(ours_p99 <= 50)}; "
        f"0 lost {verdict(lost == 0 and not problems)}.",
        "",
    ]
    short = channel.name.split(",")[0]
    return lines, [
        Finding(
            "B10",
            f"inbound SMS webhook throughput, {short}",
            f"{ratio:.1%} of the bare route ({ours_rate:,.0f} req/s)",
            "≥ 20%",
            ratio >= 0.2,
        ),
        Finding("B10", f"{short} webhook p99 at 32 connections", f"{ours_p99:.1f} ms", "≤ 50 ms", ours_p99 <= 50),
        Finding("B10", f"{short}: taken but not stored", f"{lost}", "0", lost == 0 and not problems),
    ]


def main(residents: int = 100_000, seconds: float = 10, runs: int = 3) -> list[Finding]:
    """B1, then B10 on the same servers."""
    return sms_throughput.main(residents, seconds, runs, also=ChannelWebhooks(seconds, runs))


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        int(args[0]) if args else 100_000, float(args[1]) if len(args) > 1 else 10, int(args[2]) if len(args) > 2 else 3
    )
