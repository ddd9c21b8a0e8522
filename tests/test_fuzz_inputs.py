"""Bad input, fuzzed with hypothesis: the SMS reply parsers (the register CSV importer in
`test_fuzz_register_import`, the voice script loader in `test_fuzz_voice_script`).

Each target gives a defined answer or its own clear error, never another exception; a refused import leaves every
table as it was. CI runs a fixed set of examples; `HOTLINE_FUZZ_EXAMPLES=N` runs N random ones per target instead.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dispatch.resident_replies import BODY_TEMPERATURE, NEEDS, ReplyVocabulary, parse_reply
from dispatch.tasks.liaison_reading import ACTIONS, VERBS, Action, CommandTable
from tests.fuzz_helpers import FUZZ_EXAMPLES as FUZZ_EXAMPLES  # test_api_schemathesis reads it from here
from tests.fuzz_helpers import any_text, fuzz_settings, nasty, texts

# ── The SMS reply parsers ───────────────────────────────────────────────────────────────────────────────────

VOCABULARY = ReplyVocabulary.load()
COMMANDS = CommandTable.load()
WORDS = sorted(
    {p.text for p in VOCABULARY.phrases}
    | {w for w, _ in COMMANDS.words}
    | {
        *VOCABULARY.digits,
        *VOCABULARY.typos,
        *VOCABULARY.negations,
        *VOCABULARY.opt_out,
        *VOCABULARY.opt_in,
        *VOCABULARY.emergency_numbers,
    }
)
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
