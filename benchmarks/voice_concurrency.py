"""Voice webhook under concurrency (B4c): many callers at once, each request a different signed call.

A fresh data dir holds a register of N residents (`hotline import residents`). Servers run side by side on
loopback, each one uvicorn process: `hotline serve`; `benchmarks.bare_app` answering the same paths with TwiML
of the same size (captured from ours: the entry's menu, the key's answer) and touching nothing else (the
baseline); and, given the source of an earlier commit, that commit's `hotline serve` on a data dir of its own
("before": today's throughput, measured in the same run on the same machine).

wrk (2 threads) posts, at C connections for S seconds, Twilio's voice webhooks signed as Twilio signs them:

    entry       POST /twilio/voice, a call from a registered resident, every request a new CallSid
    key → task  POST to the menu's <Gather> action with Digits=2 (a need: stored, then queued for intake), on
                the calls the entry runs made, oldest first (then, should they run out, on new CallSids)

Baseline, before and ours take turns, R times per step and per C; the medians are reported, with the spread.
Afterwards every run of ours is counted against the database: each entry answered 200 is one `calls` row, each
key answered 200 one stored need; otherwise the benchmark stops, since its figures would be those of a webhook
that does not do its work. Only the web servers run (no worker): the queued needs wait in Redis.

    python -m benchmarks.voice_concurrency [RESIDENTS [SECONDS [RUNS [BEFORE_COMMIT]]]]
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from benchmarks.common import Finding, free_port, fresh_install, process
from benchmarks.sms_throughput import THREADS, WrkRun
from benchmarks.voice_concurrency_report import Measured, findings, report
from dispatch.db import make_engine
from dispatch.models import Call, InboundMessage
from hotline.settings import load_settings
from hotline.webhooks.paths import VOICE, VOICE_MENU
from hotline.webhooks.signatures import SIGNATURE_HEADER, TwilioSignatureCheck

SCRIPT = Path(__file__).with_name("channel_posts.lua")
WRK = shutil.which("wrk")
CONNECTIONS = (8, 32)
STEPS = ("entry", "key → task")
KEY = "2"  # the resident menu's "I need something": a need, made into a task by intake
DUTY = "+861066880000"
BEFORE = "087d3b4"  # the last commit before voice steps shared a transaction: "today" in issue 25


def resident_phone(i: int) -> str:
    return f"+861380013{i:04d}"  # fresh_install's residents


@dataclass
class Server:
    """One `hotline serve` with its own data dir and signer, and the calls its entry runs made."""

    name: str
    port: int
    env: dict[str, str]
    signer: TwilioSignatureCheck
    menu: tuple[str, str] = ("", "")  # the <Gather> action's path and query after a resident's entry
    residents: int = 0
    sample: tuple[str, str] = ("", "")  # a resident's entry and key answers, as ours says them
    entered: list[str] = field(default_factory=list)  # CallSids of calls made, not yet keyed, oldest first
    sent: dict[str, set[str]] = field(default_factory=lambda: {step: set() for step in STEPS})
    taken: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STEPS, 0))

    @property
    def database_url(self) -> str:
        return load_settings(self.env, env_file=None).database_url

    def stored_calls(self) -> list[str]:
        """The CallSids of the calls stored, oldest first."""
        engine = make_engine(self.database_url)
        with engine.connect() as conn:
            sids = list(conn.scalars(select(Call.call_sid).order_by(Call.id)))
        engine.dispose()
        return sids

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post(self, path: str, query: str, form: dict[str, str]) -> str:
        request = urllib.request.Request(
            self.url + path + (f"?{query}" if query else ""),
            data=urllib.parse.urlencode(form).encode(),
            headers={SIGNATURE_HEADER: self.signer.sign(path, form, query)},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return str(answer.read().decode())

    def line(self, path: str, query: str, form: dict[str, str]) -> str:
        """One request for channel_posts.lua: path, body, then headers."""
        signature = self.signer.sign(path, form, query)
        target = path + (f"?{query}" if query else "")
        body = urllib.parse.urlencode(form)
        return f"{target}\t{body}\tContent-Type\tapplication/x-www-form-urlencoded\t{SIGNATURE_HEADER}\t{signature}"


def call_form(sid: str, resident: int) -> dict[str, str]:
    """The fields Twilio posts for a call to the hotline from a resident's phone."""
    return {
        "AccountSid": "AC" + "1" * 32,
        "ApiVersion": "2010-04-01",
        "CallSid": sid,
        "CallStatus": "ringing",
        "Called": "+10000000000",
        "Caller": resident_phone(resident),
        "Direction": "inbound",
        "From": resident_phone(resident),
        "FromCountry": "CN",
        "To": "+10000000000",
        "ToCountry": "US",
    }


def gather_action(twiml: str) -> tuple[str, str]:
    start = twiml.index("action=", twiml.index("<Gather")) + len('action="')
    url = urllib.parse.urlsplit(twiml[start : twiml.index('"', start)].replace("&amp;", "&"))
    return url.path, url.query


def wrk(port: int, prefix: Path, seconds: float, connections: int) -> WrkRun:
    assert WRK is not None
    done = subprocess.run(
        [
            WRK,
            f"-t{THREADS}",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--timeout",
            "5s",
            "-s",
            str(SCRIPT),
            *(f"http://127.0.0.1:{port}", "--", str(prefix)),
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    return WrkRun(**json.loads(done.stdout.strip().splitlines()[-1]))


def write_lines(prefix: Path, lines: Iterator[str], per_thread: int) -> list[list[str]]:
    """`per_thread` lines into each wrk thread's file; returns each thread's lines' keys (the CallSids)."""
    sids: list[list[str]] = []
    for thread in range(THREADS):
        thread_sids = []
        with open(f"{prefix}.{thread}", "w", encoding="utf-8") as out:
            for _ in range(per_thread):
                line = next(lines)
                out.write(line + "\n")
                thread_sids.append(urllib.parse.parse_qs(line.split("\t")[1])["CallSid"][0])
        sids.append(thread_sids)
    return sids


def requests(server: Server, step: str, residents: int, run: int, fresh: bool = False) -> Iterator[str]:
    """Endless distinct requests of `step` for `server`: a key goes to the calls the entries made (unless
    `fresh`), then to new CallSids."""
    n = 0
    while True:
        n += 1
        if step == "entry" or fresh or not server.entered:
            sid = f"CA{run:02x}{STEPS.index(step)}" + uuid.uuid4().hex[3:]
        else:
            sid = server.entered.pop(0)
        form = call_form(sid, n % residents)
        if step == "entry":
            yield server.line(VOICE, "", form)
        else:
            yield server.line(*server.menu, {**form, "CallStatus": "in-progress", "Digits": KEY})


def measure(
    server: Server, target: Server, step: str, connections: int, prefix: Path, seconds: float, run: int, lines: int
) -> WrkRun:
    """One wrk run of `step` against `target` (`server`, or the bare route with `server`'s requests), remembering
    what `server` was sent and what it answered."""
    if step != "entry" and target is server:
        server.entered = [sid for sid in server.stored_calls() if sid not in server.sent[step]]
    residents = server.residents
    sids = write_lines(prefix, requests(server, step, residents, run, fresh=target is not server), lines)
    result = wrk(target.port, prefix, seconds, connections)
    if target is server:
        server.sent[step].update(sid for thread_sids in sids for sid in thread_sids[: result.issued])
        server.taken[step] += result.ok
    return result


def count(server: Server) -> list[str]:
    """What the database holds against what wrk saw answered: problems, none if every answer was work done."""
    problems = []
    entries = len(set(server.stored_calls()) & server.sent["entry"])
    if entries < server.taken["entry"]:
        problems.append(f"{server.name}: {server.taken['entry']:,} entries answered, {entries:,} calls stored")
    engine = make_engine(server.database_url)
    with engine.connect() as conn:
        needs = [sid.split(":")[0] for sid in conn.scalars(select(InboundMessage.provider_sid))]
    engine.dispose()
    keyed = [sid for sid in needs if sid in server.sent["key → task"]]
    if len(keyed) != len(set(keyed)):
        problems.append(f"{server.name}: a key stored more than one need for a call")
    if len(keyed) < server.taken["key → task"]:
        problems.append(f"{server.name}: {server.taken['key → task']:,} keys answered, {len(keyed):,} needs stored")
    return problems


def start(stack: ExitStack, tmp: Path, name: str, residents: int, source: Path | None) -> Server:
    """A data dir of its own with the register, and its `hotline serve` (from `source`, if given)."""
    root = tmp / name
    root.mkdir()
    # An earlier commit's server runs its own code from the start, register and migrations included: a database
    # migrated by today's code is at a revision it does not know, and it would refuse to serve it. Its packages
    # first; PYTHONSAFEPATH: not this checkout's, from the working directory.
    earlier = {"PYTHONPATH": str(source), "PYTHONSAFEPATH": "1"} if source is not None else {}
    _, port, env = fresh_install(str(root), residents, HOTLINE_DUTY_PHONE=DUTY, **earlier)
    settings = load_settings(env, env_file=None)
    server = Server(name, port, env, TwilioSignatureCheck(str(settings.twilio_auth_token), settings.public_url))
    serve = [sys.executable, "-m", "hotline", "serve", "--port", str(port)]
    stack.enter_context(process(serve, env, ready_url=f"{server.url}/healthz", log=root / "serve.log"))
    sid = "CA" + uuid.uuid4().hex
    entry = server.post(VOICE, "", call_form(sid, 0))
    server.menu = gather_action(entry)
    key = server.post(*server.menu, {**call_form(sid, 0), "CallStatus": "in-progress", "Digits": KEY})
    server.sample, server.residents = (entry, key), residents
    return server


def source_of(commit: str, tmp: Path) -> Path | None:
    """The Python packages of `commit`, from this checkout's git; None if there is none to read them from."""
    repo = Path(__file__).resolve().parent.parent
    git = shutil.which("git")
    if git is None or not (repo / ".git").exists():
        return None
    target = tmp / "before-src"
    target.mkdir()
    archive = subprocess.run(
        [git, "-C", str(repo), "archive", commit, "hotline", "dispatch", "workers", "ivr_scripts"],
        capture_output=True,
        check=False,
    )
    if archive.returncode:
        return None
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target


def main(
    residents: int = 257,
    seconds: float = 5,
    runs: int = 3,
    before: str | None = BEFORE,
    connections: tuple[int, ...] = CONNECTIONS,
) -> list[Finding]:
    if WRK is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="hlvc-") as name, ExitStack() as stack:
        tmp = Path(name)
        source = source_of(before, tmp) if before else None
        before = before if source is not None else None
        ours = start(stack, tmp, "ours", residents, None)
        servers = [ours] + ([start(stack, tmp, "before", residents, source)] if source is not None else [])
        answers = tmp / "answers.json"
        answers.write_text(json.dumps({VOICE: ours.sample[0], VOICE_MENU: ours.sample[1]}), encoding="utf-8")
        bare_port = free_port()
        bare_app = [sys.executable, "-m", "benchmarks.bare_app", str(bare_port), str(answers)]
        stack.enter_context(process(bare_app, ours.env, ready_url=f"http://127.0.0.1:{bare_port}/"))
        bare = Server("bare", bare_port, ours.env, ours.signer)
        prefix = tmp / "requests"
        if runs > 1:  # warm-up: code loaded, connections opened, caches filled; not in the smoke run's one run
            for server in servers:
                measure(server, server, "entry", CONNECTIONS[0], prefix, min(1.0, seconds), 0, 2000)
            measure(ours, bare, "entry", CONNECTIONS[0], prefix, min(1.0, seconds), 0, 2000)
        measured = []
        for callers in connections:
            for step in STEPS:
                m = Measured(step, callers)
                for run in range(1, runs + 1):
                    m.bare.append(measure(ours, bare, step, callers, prefix, seconds, run, 2000))
                    # Enough distinct requests for a server as fast as the bare route, and then some.
                    lines = int(m.bare[-1].rate * seconds * 1.2 / THREADS) + 500
                    for server in reversed(servers):
                        result = measure(server, server, step, callers, prefix, seconds, run, lines)
                        (m.ours if server is ours else m.before).append(result)
                measured.append(m)
        problems = [problem for server in servers for problem in count(server)]
        problems += [
            f"{m.step} at {m.connections}: {name} gave {r.other} answers not 200 and {r.errors} errors (timeouts)"
            for m in measured
            for name, runs in (("ours", m.ours), ("before", m.before))
            for r in runs
            if r.other or r.errors
        ]
        problems += [
            f"{m.step} at {m.connections}: ran out of requests" for m in measured if any(r.wrapped for r in m.ours)
        ]
    if problems:
        raise SystemExit("B4c: " + "; ".join(problems))
    print("\n".join(report(measured, residents, seconds, runs, before, connections)))
    return findings(measured)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        int(args[0]) if args else 257,
        float(args[1]) if len(args) > 1 else 5,
        int(args[2]) if len(args) > 2 else 3,
        args[3] if len(args) > 3 else BEFORE,
    )
