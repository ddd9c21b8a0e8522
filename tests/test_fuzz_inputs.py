"""Bad input, fuzzed with hypothesis: the SMS reply parsers, the register CSV importer, the voice script loader.

Each target gives a defined answer or its own clear error, never another exception; a refused import leaves every
table as it was. CI runs a fixed set of examples; `HOTLINE_FUZZ_EXAMPLES=N` runs N random ones per target instead.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from dispatch import register
from dispatch.exceptions import IvrScriptError
from dispatch.ivr.calls import Caller, Person
from dispatch.ivr.check import Problem, check_file, check_script
from dispatch.ivr.script import PHRASE_FIELDS, PHRASES, VOICE_SCRIPT_FILE, IvrScript, load_script
from dispatch.models import Base, Liaison, Resident
from dispatch.resident_replies import BODY_TEMPERATURE, NEEDS, ReplyVocabulary, parse_reply
from dispatch.tasks.liaison_reading import ACTIONS, VERBS, Action, CommandTable
from hotline.services import Services
from hotline.settings import Settings
from hotline.webhooks.voice_render import CallWords, Renderer, Step
from tests.callflow import parse_voice_twiml
from tests.conftest import BACKUP_PHONE, LIAISON_PHONE, PHONES

FUZZ_EXAMPLES = int(os.environ.get("HOTLINE_FUZZ_EXAMPLES", "0"))


def fuzz_settings(ci_examples: int) -> settings:
    """`ci_examples` derandomized examples (the same every CI run), or HOTLINE_FUZZ_EXAMPLES random ones."""
    return settings(
        max_examples=FUZZ_EXAMPLES or ci_examples,
        derandomize=not FUZZ_EXAMPLES,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )


# Text a phone, a spreadsheet or a fuzzer may hold: RTL and bidi marks, emoji sequences, NUL, BOMs, full-width
# digits and letters, combining marks, letters whose lower case is longer (İ), digits that are not 0-9, and lone
# surrogates (JSON may spell "\ud800"; no UTF-8 encoder takes one).
NASTY = [
    "\x00", "\ufeff", "\u202e", "\u200f", "\u200b", "مرحبا ١٢٣", "שלום", "😀", "👨‍👩‍👧", "🇨🇳", "１２３", "ＯＫ",
    "İ", "ß", "e\u0301", "²", "٣", "३६.५", "𝟑", "\r\n", "\t", '"', "'", ",", "；", "=1+1", "@SUM(A1)", "{name}",
    "{", "}", "%s", "\\", "<Say>", "]]>", "&amp;", "9" * 30, "9" * 5000, " ", "",
    "\ud800", "梁\udfff", "\udc00\ud800",
]  # fmt: skip
nasty = st.sampled_from(NASTY)
any_text = st.text(st.characters(exclude_categories=()), max_size=40)  # Cs too: st.text() leaves surrogates out
texts = st.one_of(any_text, nasty, st.lists(st.one_of(nasty, any_text), max_size=5).map("".join))


# ── The SMS reply parsers ───────────────────────────────────────────────────────────────────────────────────

VOCABULARY = ReplyVocabulary.load()
COMMANDS = CommandTable.load()
WORDS = sorted({p.text for p in VOCABULARY.phrases} | {w for w, _ in COMMANDS.words} | {
    *VOCABULARY.digits, *VOCABULARY.typos, *VOCABULARY.negations, *VOCABULARY.opt_out, *VOCABULARY.opt_in,
    *VOCABULARY.emergency_numbers})  # fmt: skip
temperatures = st.one_of(
    st.from_regex(
        r"(体温|发烧|烧到)?\s?[0-9]{2}([.。点][0-9]{1,3}|度[0-9半多]|°[0-9])?\s?(度|℃|°C|°)?",
        fullmatch=True,
    ),
    st.from_regex(r"[三四]十[一二三四五六七八九]?[度点][一二三四五六七八九半多]?", fullmatch=True),
)
# Messages made of the words the parsers look for, with numbers, temperatures and junk in between.
messages = st.lists(
    st.one_of(st.sampled_from(WORDS), temperatures, st.integers(0, 10**8).map(str), nasty, any_text),
    max_size=8,
).flatmap(lambda parts: st.sampled_from(["", " ", "，", "#"]).map(lambda sep: sep.join(parts)))
# Replies shaped like a liaison's command: a word, maybe a number (in any digits), maybe more words after it.
COMMAND_WORDS = sorted({w for word, _ in COMMANDS.words for w in (word, word.upper(), word.title())})
commands = st.tuples(
    st.sampled_from(COMMAND_WORDS),
    st.sampled_from(["", " ", "#", " # ", "　"]),
    st.one_of(st.just(""), st.integers(0, 10**8).map(str), st.sampled_from(["１２", "١٢", "²", "0x1"])),
    st.sampled_from(["", " ", "，", ":", "："]),
    st.one_of(st.just(""), messages, texts),
).map("".join)


@fuzz_settings(300)
@given(st.one_of(messages, texts))
def test_any_resident_text_reads_as_something_or_nothing_never_an_error(text: str) -> None:
    reading = parse_reply(text, VOCABULARY)
    assert reading == parse_reply(text, VOCABULARY)  # the same text, the same reading
    assert set(reading.needs) <= set(NEEDS) and len(set(reading.needs)) == len(reading.needs)
    if reading.opt_out or reading.opt_in:
        assert not (reading.opt_out and reading.opt_in) and not reading.needs and reading.temperature is None
    if reading.temperature is not None:
        assert BODY_TEMPERATURE[0] <= reading.temperature <= BODY_TEMPERATURE[1]
        assert reading.fever == (reading.temperature >= 37.3)
    assert not reading.fever or "unwell" in reading.needs
    assert reading.understood == (reading.describe().split(" ")[0] != "other")  # `other t=36.5`: partly read
    assert not (reading.fine and reading.needs)  # fine only when nothing in it is a need or a health sign


@fuzz_settings(300)
@given(st.one_of(commands, messages, texts))
def test_any_liaison_text_is_one_command_or_not_understood(text: str) -> None:
    command = COMMANDS.read(text)
    assert command == COMMANDS.read(text)
    assert command.verb is None or command.verb in VERBS
    if command.verb is None:
        assert command.task_id is None and command.text == ""
    if command.verb in ("accept", "done", "list"):
        assert command.text == ""  # only a number may follow these
    if command.verb in ("decline", "note"):
        assert command.task_id is not None  # handing back or noting needs the task's number
    assert command.task_id is None or 0 <= command.task_id < 10**7


NATURAL = COMMANDS.natural
NATURAL_WORDS = sorted(
    {p.text for p in NATURAL.phrases}
    | {*NATURAL.ack_alone, *NATURAL.done_alone, *NATURAL.negations, *NATURAL.questions, *NATURAL.units}
    | {"十二", "一百零五", "号", "#"}
)
natural_replies = st.lists(
    st.one_of(st.sampled_from(NATURAL_WORDS), st.integers(0, 10**8).map(str), nasty, any_text), max_size=6
).flatmap(lambda parts: st.sampled_from(["", " ", "，", "。"]).map(lambda sep: sep.join(parts)))
task_in_play = st.tuples(st.integers(1, 10**6), st.sampled_from(["offered", "escalated", "accepted"]))
tasks_in_play = st.lists(task_in_play, max_size=4, unique_by=lambda task: task[0])


@fuzz_settings(300)
@given(st.one_of(natural_replies, commands, texts), tasks_in_play)
def test_any_liaison_reply_does_one_defined_thing_to_a_task_it_names_or_has(
    text: str, in_play: list[tuple[int, str]]
) -> None:
    read = COMMANDS.understand(text, in_play)
    assert read == COMMANDS.understand(text, in_play)
    if isinstance(read, Action):
        assert read.kind in ACTIONS
        assert read.kind != "ask" or in_play  # the question lists the tasks in play
        named = COMMANDS.natural.read(text).task_ids
        # A task is acted on only when the reply names it, or it is in play: never a number made up.
        assert set(read.task_ids) <= set(named) | {task_id for task_id, _ in in_play}
        if read.kind in ("accept", "done", "decline", "still"):
            assert len(read.task_ids) == 1
            assert read.task_ids[0] in named or len(in_play) == 1  # without a number, only the one task in play


# ── The register CSV importer ────────────────────────────────────────────────────────────────────────────────

CSV_VOCABULARY = register.Vocabulary.load()
mobiles = st.from_regex(r"1(3[0-9]|5[0-35-9]|8[0-9])[0-9]{8}", fullmatch=True)
ODD_NUMBERS = [LIAISON_PHONE, BACKUP_PHONE, "057112345678", "0571-1234567", "+14155550100", "110", "12345"]
HOMES = list(PHONES.values())  # the town's residents' numbers: a row may be one of them
numbers = st.one_of(mobiles, st.sampled_from([*HOMES, *ODD_NUMBERS, "+86 139 1234 5678"]))
names = st.text("梁王李张刘陈秀英华玉兰德福国强", min_size=2, max_size=4)


def _spellings(kind: str) -> st.SearchStrategy[str]:
    return st.sampled_from([s for spellings in CSV_VOCABULARY.values[kind].values() for s in spellings])


# What an office would write in each column; a messy file has some of the bad cells below instead.
GOOD: dict[str, st.SearchStrategy[str]] = {
    "name": names, "phone": mobiles, "emergency_contact_name": names, "id": st.just(""),
    "phones": st.one_of(mobiles, st.lists(mobiles, min_size=2, max_size=2).map("；".join), st.sampled_from(HOMES)),
    "community": st.sampled_from(["幸福里社区", "新社区"]), "grid": st.sampled_from(["第1网格", "第2网格"]),
    "building": st.sampled_from(["1号楼", "2号楼"]), "unit": st.just("1单元"), "room": st.integers(100, 110).map(str),
    "categories": st.lists(_spellings("categories"), max_size=3).map("、".join),
    "language": _spellings("language"), "channel": st.sampled_from(["语音", "voice"]), "risk": _spellings("risk"),
    "status": _spellings("status"), "role": _spellings("role"), "active": _spellings("active"),
    "emergency_contact_phone": st.one_of(mobiles, st.just("+14155550100")),
    "liaison_phone": st.sampled_from([LIAISON_PHONE, "13912345678"]),
    "backup_liaison_phone": st.sampled_from([BACKUP_PHONE, "139 1234 5679"]),
    "notes": st.text(st.characters(blacklist_categories=["Cc", "Cs"]), max_size=30),
}  # fmt: skip
BAD: dict[str, st.SearchStrategy[str]] = {
    "id": st.one_of(st.integers(0, 20).map(str), st.sampled_from(["²", "٣", "1.0", "-1", "9" * 40]), texts),
    "name": st.one_of(st.sampled_from([*PHONES, "张敏", "李强"]), texts, st.text(min_size=99, max_size=102)),
    "phones": st.one_of(numbers, st.lists(numbers, min_size=2, max_size=3).map("；".join), texts),
    "community": st.one_of(texts, st.text(min_size=100, max_size=101)), "channel": st.one_of(texts, st.just("短信")),
    "building": st.one_of(texts, st.text(min_size=40, max_size=41)),
    "notes": st.one_of(texts, st.text(min_size=1999, max_size=2001)),
}  # fmt: skip


def cell(key: str) -> st.SearchStrategy[str]:
    return BAD.get(key, st.one_of(GOOD[key], texts))


@st.composite
def register_files(draw: st.DrawFn, table: str) -> bytes:
    """A register file: real and unknown headers in any order and spelling, cells good and bad, rows short and
    long, in UTF-8, UTF-8 with BOM or GB18030, sometimes with bytes broken; or any bytes at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    messy = draw(st.booleans())  # else tidy: every cell one an office would write, and the header right
    columns = CSV_VOCABULARY.tables[table]
    keys = draw(st.lists(st.sampled_from(sorted(columns)), max_size=8))
    keys = ["name", *(["phones"] if table == "residents" else []), *keys]
    if messy and draw(st.booleans()):
        keys = keys[draw(st.integers(0, 2)) :]  # a required column missing, sometimes
    keys = list(dict.fromkeys(keys)) if not messy or draw(st.integers(0, 5)) else keys  # sometimes a column twice
    if not messy and "grid" in keys and "community" not in keys:
        keys.append("community")  # a grid belongs to a community
    if table == "liaisons" and not messy and "grid" not in keys and "community" in keys:
        keys.append("grid")
    header = [draw(st.sampled_from(columns[k])) for k in keys]
    if messy and draw(st.integers(0, 4)) == 0:
        header.insert(draw(st.integers(0, len(header))), draw(texts))  # a column nobody knows, or a blank one
    rows = []
    for _ in range(draw(st.integers(0, 5))):
        row = [draw(cell(k) if messy and draw(st.integers(0, 3)) == 0 else GOOD[k]) for k in keys]
        if messy and draw(st.integers(0, 4)) == 0:
            row += draw(st.lists(texts, max_size=2))  # cells past the header
        if messy and draw(st.integers(0, 4)) == 0:
            row = row[: draw(st.integers(0, len(row)))]  # a short row
        rows.append(row)
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    codec = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
    data = buffer.getvalue().encode(codec, "surrogatepass" if codec.startswith("utf-8") else "replace")
    if messy and draw(st.booleans()):  # broken on the way: bytes changed or put in, or cut short
        at = draw(st.integers(0, len(data)))
        broken = [b"\xff", b"\x80\x81", b"\xe4\xb8", b"\x00", b'"', b'"', b',"', b"\r", b""]
        data = data[:at] + draw(st.sampled_from(broken)) + data[at:]
        data = data[: draw(st.integers(at, len(data)))]
    return data


def digest(session: Session) -> str:
    """A fingerprint of every row of every table: equal digests, an unchanged database."""
    hashed = hashlib.sha256()
    for table in Base.metadata.sorted_tables:
        for row in session.execute(select(table).order_by(*table.primary_key.columns)):
            hashed.update(repr(tuple(row)).encode())
    return hashed.hexdigest()


def data_rows(data: bytes) -> int:
    """The rows with anything in them after the header (what a complete import must account for)."""
    rows = list(csv.reader(io.StringIO(register.csv_read.decode(data), newline="")))
    return sum(1 for row in rows[1:] if any(cell.strip() for cell in row))


IMPORTERS = {"residents": (register.import_residents, Resident), "liaisons": (register.import_liaisons, Liaison)}


def check_import(services: Services, data: bytes, table: str) -> None:
    """Import `data` as the CLI and the console do; whatever it holds, a refusal changes nothing at all and an
    acceptance accounts for every row."""
    importer, model = IMPORTERS[table]
    count = select(func.count()).select_from(model)
    with services.sessions() as session:
        before, rows_before = digest(session), session.scalar(count) or 0
        report = importer(session, data, region="CN", vocabulary=CSV_VOCABULARY)
        session.flush()
        if report.ok:
            assert len(report.created) + len(report.updated) + len(report.unchanged) == data_rows(data)
            assert session.scalar(count) == rows_before + len(report.created)
        else:
            assert all(isinstance(e.line, int) and e.line >= 1 and e.column and e.message for e in report.errors)
            assert report.created == report.updated == report.unchanged == []
            assert digest(session) == before, "a refused import wrote something"
        session.rollback()


def examples(*values: Any) -> Callable[[Any], Any]:
    """Inputs the fuzz once found a bug with, run on every run as well."""
    return lambda test: functools.reduce(lambda t, value: example(value)(t), reversed(values), test)


@fuzz_settings(150)
@given(register_files("residents"))
@examples(
    # A new grid was flushed while its household listed a resident not yet in the session: an SAWarning.
    "姓名,电话,备用联络员电话,社区,网格\r\n兰兰,13000000000,+8613912345679,幸福里社区,第2网格\r\n".encode(),
    '姓名,电话\r\n梁阿姨,13800138000\r\n"王大爷,13800138001\r\n'.encode(),  # a quote never closed
    '姓名,电话\r\n"梁阿姨"x,13800138000\r\n'.encode("gb18030"),  # words after a closing quote
    "姓名,电话,备注\r\n新居民,13800138009,a\x00b\r\n".encode(),  # a NUL PostgreSQL cannot store
)
def test_any_residents_file_is_imported_whole_or_refused_without_a_trace(
    services: Services, town: dict[str, int], data: bytes
) -> None:
    check_import(services, data, "residents")


@fuzz_settings(100)
@given(register_files("liaisons"))
@examples(
    "姓名,编号\r\n,²\r\n".encode(),  # "²" passed isdigit() and broke int(): a 500
    "姓名,在岗\r\n,是\r\n".encode(),  # a row without a name passed the checks and broke the import: a 500
)
def test_any_liaisons_file_is_imported_whole_or_refused_without_a_trace(
    services: Services, town: dict[str, int], data: bytes
) -> None:
    check_import(services, data, "liaisons")


# ── The voice script loader and checker ──────────────────────────────────────────────────────────────────────

SHIPPED = tomllib.loads(VOICE_SCRIPT_FILE.read_text(encoding="utf-8"))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        found += _paths(child, (*prefix, key))
    return found


PATHS = _paths(SHIPPED)
SCRIPT_WORDS = [
    "goodbye", "nowhere", "resident_menu", "task", "goto", "person", "repeat", "bogus", "0", "9", "10", "*", "",
    "sms", "{name.real}", "{0}", "{tasks[0]}", "{name!z}", "{person:>5}", "{liaison}", "{", "x.mp3",
    "../../etc/passwd", "../voice_hotline.toml", "a" * 300, "https://example.org/x.mp3", "groceries", "callback",
]  # fmt: skip
toml_scalars = st.one_of(
    st.sampled_from(SCRIPT_WORDS), texts, st.integers(-(2**63), 2**63 - 1), st.floats(), st.booleans(), st.dates()
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(SCRIPT_WORDS) | any_text, inner),
    max_leaves=6,
)


def _parent(document: dict[str, Any], path: tuple[Any, ...]) -> Any:
    """The table or array holding `path`'s last key; None if an earlier change took the path away."""
    parent: Any = document
    for key in path[:-1]:
        try:
            parent = parent[key]
        except (KeyError, IndexError, TypeError):
            return None
    last = path[-1]
    listed = isinstance(parent, list) and isinstance(last, int) and last < len(parent)
    return parent if isinstance(parent, dict) or listed else None


def _mutate(document: dict[str, Any], path: tuple[Any, ...], how: str, value: Any) -> None:
    parent, last = _parent(document, path), path[-1]
    if parent is None or (how == "rename" and last not in parent):
        return
    if how == "rename":
        parent[str(value)] = parent.pop(last)
    elif how == "delete" and isinstance(parent, dict):
        parent.pop(last, None)
    elif how == "delete":
        del parent[last]
    else:
        parent[last] = value


# A value of the same type: more changes get past the loader's shape checks, on to the checker.
LIKE = {bool: st.booleans(), int: st.integers(-5, 40), str: st.one_of(st.sampled_from(SCRIPT_WORDS), texts)}


@st.composite
def scripts(draw: st.DrawFn) -> bytes:
    """The shipped script with a few things changed, deleted, renamed or added; sometimes its bytes broken."""
    document = tomllib.loads(VOICE_SCRIPT_FILE.read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(PATHS))
        how = draw(st.sampled_from(["set", "set", "delete", "rename", "add"]))
        if how == "add":
            path = (*path[:-1], draw(st.sampled_from(SCRIPT_WORDS)))
        parent = _parent(document, path)
        current = parent.get(path[-1]) if isinstance(parent, dict) else parent[path[-1]] if parent else None
        like = LIKE.get(type(current), toml_values)
        _mutate(document, path, how, draw(like if draw(st.booleans()) else toml_values))
    data = tomli_w.dumps(document).encode("utf-8", "surrogatepass")  # a lone surrogate: bytes that are not UTF-8
    if draw(st.integers(0, 6)) == 0:
        at, broken = draw(st.integers(0, len(data))), [b"\xff", b"\xe4\xb8", b"[", b"=", b'"', b"\n[node.x]\n"]
        data = data[:at] + draw(st.sampled_from(broken)) + data[at:]
    return data


def render_everything(script: IvrScript, settings: Settings) -> None:
    """Every node, put-through, voicemail and failure of a script the checker passed, for each kind of caller:
    valid voice TwiML every time."""
    renderer = Renderer(script, settings)
    people = (Person("liaison", "张敏", LIAISON_PHONE), Person("duty", "值班", BACKUP_PHONE))
    for language in ("zh-CN", "en"):
        for key in PHRASES:
            script.phrase(key, language, **dict.fromkeys(PHRASE_FIELDS.get(key, ()), "x"))
        for kind in ("resident", "liaison", "unknown"):
            caller = Caller(kind, PHONES["梁阿姨"], language, name="梁阿姨", liaison_name="张敏", people=people,
                            is_resident=kind == "resident", can_sms=True)  # fmt: skip
            for name in script.nodes:
                words = CallWords(caller, {"name": caller.name, "liaison": "张敏", "next_step": ""}, lambda key: key)
                parse_voice_twiml(str(renderer.node(VoiceResponse(), Step(name), words, intro=True)))
            for index in range(3):
                parse_voice_twiml(str(renderer.put_through(VoiceResponse(), people, index, Step("x"), language)))
        parse_voice_twiml(renderer.failure(language, BACKUP_PHONE))


def _shipped_with(change: Callable[[dict[str, Any]], Any]) -> bytes:
    document = tomllib.loads(VOICE_SCRIPT_FILE.read_text(encoding="utf-8"))
    change(document)
    return tomli_w.dumps(document).encode()


@fuzz_settings(200)
@given(scripts())
@examples(
    b"\xff" + VOICE_SCRIPT_FILE.read_bytes(),  # not UTF-8: a UnicodeDecodeError, not the loader's error
    _shipped_with(lambda d: d["node"]["resident_menu"].update(option=5)),  # TypeError: 5 is not a list
    _shipped_with(lambda d: d["node"]["resident_menu"]["option"][0].update(need=["groceries"])),  # unhashable
    _shipped_with(lambda d: d["phrase"]["zh-CN"].update(putting_through="\x1b")),  # passed, then broke TwiML
    _shipped_with(lambda d: d["node"]["goodbye"]["prompt"].update(en="{name.real}")),  # AttributeError in check
    _shipped_with(lambda d: d["phrase"]["en"].update(putting_through="{")),  # passed, then broke str.format
    _shipped_with(lambda d: d["node"]["goodbye"].update(audio={"en": "a" * 300})),  # OSError: name too long
)
def test_any_changed_voice_script_loads_or_is_refused_clearly(tmp_path: Path, settings: Settings, data: bytes) -> None:
    path = tmp_path / "voice.toml"
    path.write_bytes(data)
    note(data.decode("utf-8", "backslashreplace"))
    try:
        script = load_script(path, VOCABULARY)
    except IvrScriptError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        assert check_file(path, VOCABULARY) == [Problem(path.name, p) for p in exc.problems]
        return
    problems = check_script(script, VOCABULARY)
    assert check_file(path, VOCABULARY) == problems
    if not any(p.error for p in problems):
        render_everything(script, settings)  # what the checker passes, a caller can hear
