"""Bad input, fuzzed with hypothesis: the voice script loader and checker. A changed script loads, or is refused with
its own clear error, never another exception. CI runs a fixed set of examples; `HOTLINE_FUZZ_EXAMPLES=N` runs N
random ones instead."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import given, note
from hypothesis import strategies as st
from twilio.twiml.voice_response import VoiceResponse

from dispatch.exceptions import IvrScriptError
from dispatch.ivr.calls import Caller, Person
from dispatch.ivr.check import Problem, check_file, check_script
from dispatch.ivr.script import PHRASE_FIELDS, PHRASES, VOICE_SCRIPT_FILE, IvrScript, load_script
from dispatch.resident_replies import ReplyVocabulary
from hotline.settings import Settings
from hotline.webhooks.voice_render import CallWords, Renderer, Step
from tests.callflow import parse_voice_twiml
from tests.conftest import BACKUP_PHONE, LIAISON_PHONE, PHONES
from tests.fuzz_helpers import any_text, examples, fuzz_settings, texts

VOCABULARY = ReplyVocabulary.load()

SHIPPED = tomllib.loads(VOICE_SCRIPT_FILE.read_text(encoding="utf-8"))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        found += _paths(child, (*prefix, key))
    return found


PATHS = _paths(SHIPPED)
SCRIPT_WORDS = [
    "goodbye",
    "nowhere",
    "resident_menu",
    "task",
    "goto",
    "person",
    "repeat",
    "bogus",
    "0",
    "9",
    "10",
    "*",
    "",
    "sms",
    "{name.real}",
    "{0}",
    "{tasks[0]}",
    "{name!z}",
    "{person:>5}",
    "{liaison}",
    "{",
    "x.mp3",
    "../../etc/passwd",
    "../voice_hotline.toml",
    "a" * 300,
    "https://example.org/x.mp3",
    "groceries",
    "callback",
]
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
            caller = Caller(
                kind,
                PHONES["梁阿姨"],
                language,
                name="梁阿姨",
                liaison_name="张敏",
                people=people,
                is_resident=kind == "resident",
                can_sms=True,
            )
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
