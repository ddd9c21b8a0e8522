"""The liaison reply reader's published behaviour: tests/data/liaison_replies.tsv, one real-style reply a line,
with the liaison's tasks in play and what the reply must do."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.exceptions import MessageCatalogError
from dispatch.models import TaskStatus
from dispatch.tasks.liaison_reading import Action, Command, CommandTable

CORPUS = Path(__file__).parent / "data" / "liaison_replies.tsv"
TABLE = CommandTable.load()
STATUS = {"o": TaskStatus.OFFERED, "e": TaskStatus.ESCALATED, "a": TaskStatus.ACCEPTED}


def cases() -> list[tuple[str, str, str]]:
    rows = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            text, tasks, expected = line.split("\t")
            rows.append((text, tasks, expected))
    return rows


def in_play(tasks: str) -> list[tuple[int, str]]:
    """The tasks column: "o12 a13" is 12 offered and 13 accepted; "-" is none."""
    return [] if tasks == "-" else [(int(t[1:]), STATUS[t[0]]) for t in tasks.split()]


def does(text: str, tasks: str) -> str:
    """What the reply does, in the corpus's words."""
    read = TABLE.understand(text, in_play(tasks))
    if isinstance(read, Action):
        return read.describe()
    assert isinstance(read, Command)
    return str(read.verb) if read.verb == "list" else f"{read.verb} {read.task_id or '?'}"


def test_the_corpus_is_big_enough_to_mean_something() -> None:
    assert len(cases()) >= 200
    assert sum(tasks != "-" and len(tasks.split()) > 1 for _, tasks, _ in cases()) >= 10  # several tasks in play


def test_every_reply_in_the_corpus_does_what_it_says() -> None:
    wrong = [(text, tasks, expected, does(text, tasks)) for text, tasks, expected in cases()]
    wrong = [row for row in wrong if row[2] != row[3]]
    for text, tasks, expected, got in wrong:
        print(f"misread: {text!r} with {tasks}: expected {expected}, got {got}")
    assert not wrong, f"{len(wrong)} of {len(cases())} liaison replies misread (printed above)"


def test_no_negation_or_question_turns_into_a_take_or_a_finish() -> None:
    # Every word that takes or finishes, turned round or asked, on its own or with the task's number.
    words = [p.text for p in TABLE.natural.phrases if p.signal in ("ack", "accept", "done")]
    words += [*TABLE.natural.ack_alone, *TABLE.natural.done_alone]
    forms = ("没{}", "还没{}", "不{}", "没有{}", "12号还没{}", "{}吗", "{}了吗", "{}？", "12{}?", "{}了没", "{}不")
    turned = [form.format(word) for word in words for form in forms]
    acted = [text for text in turned if does(text, "o12").split()[0] in ("accept", "done")]
    assert len(words) >= 100
    assert not acted


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('version = 1\n[commands]\naccept = ["接"]\n[natural]\nflying = ["飞"]\n', "flying"),
        ('version = 1\n[commands]\naccept = ["接"]\n[natural]\nack = "收到"\n', "list of words"),
        ('version = 1\n[commands]\naccept = ["接"]\n[natural]\nack = ["收到"]\ndone = ["收到"]\n', "both"),
    ],
)
def test_a_malformed_natural_table_is_refused(tmp_path: Path, content: str, problem: str) -> None:
    bad = tmp_path / "liaison_sms_commands.toml"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(MessageCatalogError, match=problem):
        CommandTable.load(bad)
