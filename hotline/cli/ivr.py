"""`hotline ivr check` and `hotline ivr graph`: the voice scripts and the other data files in ivr_scripts/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from dispatch.exceptions import DispatchError
from dispatch.ivr.check import Problem, check_file
from dispatch.ivr.graph import to_dot
from dispatch.ivr.script import VOICE_SCRIPT_FILE, load_script
from dispatch.register.csv_read import Vocabulary
from dispatch.resident_replies import KEYWORDS_FILE, MENU_FILE, ReplyVocabulary
from dispatch.script_data import load_versioned_toml
from dispatch.sms_templates import TEMPLATES_FILE, TemplateTable, check_templates
from dispatch.tasks.liaison_reading import CommandTable
from dispatch.texts import MessageCatalog
from dispatch.voice_templates import VOICE_TEMPLATES_FILE, check_voice_templates
from hotline.cli.base import domain_errors, main
from ivr_scripts import SCRIPTS_DIR

# The other data files, each read by the loader the service uses, so a file that loads here loads there.
DATA_LOADERS: dict[str, Callable[[Path], object]] = {
    "sms_texts.toml": MessageCatalog.load,
    "menu_digits.toml": lambda path: ReplyVocabulary.load(menu=path, keywords=KEYWORDS_FILE),
    "reply_keywords.toml": lambda path: ReplyVocabulary.load(menu=MENU_FILE, keywords=path),
    "liaison_sms_commands.toml": CommandTable.load,
    "register_columns.toml": Vocabulary.load,
}


def check_path(path: Path) -> list[Problem]:
    """The problems of one file in ivr_scripts/ (or one given by hand)."""
    try:
        data = load_versioned_toml(path)
    except DispatchError as exc:
        return [Problem(path.name, str(exc))]
    if data.get("kind") == "ivr":
        problems = check_file(path)
        if any(problem.error for problem in problems):
            return problems
        # Every prompt as TwiML in every profile for hearing and memory, with the service's voices if readable.
        from hotline.webhooks.profile_check import check_profiles, check_settings

        return problems + check_profiles(load_script(path), check_settings())
    if path.name == TEMPLATES_FILE.name:  # checked against the SMS texts beside it
        return [Problem(path.name, problem) for problem in check_templates(path, path.parent / "sms_texts.toml")]
    if path.name == VOICE_TEMPLATES_FILE.name:  # the check-in call's voice template, held to Tencent's rules
        return [Problem(path.name, problem) for problem in check_voice_templates(path)]
    loader = DATA_LOADERS.get(path.name)
    if loader is None:
        return [Problem(path.name, 'not a hotline data file: a voice script needs kind = "ivr"', error=False)]
    try:
        loader(path)
    except DispatchError as exc:
        return [Problem(path.name, str(exc))]
    return []


@main.group()
def ivr() -> None:
    """The voice hotline's scripts in ivr_scripts/."""


@ivr.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def ivr_check(paths: tuple[Path, ...]) -> None:
    """Check voice scripts and data files (default: every file in ivr_scripts/). Exit 1 on any problem."""
    files = list(paths) or sorted(SCRIPTS_DIR.glob("*.toml"))
    failed = False
    for path in files:
        problems = check_path(path)
        failed = failed or bool(problems)
        for problem in problems:
            click.echo(f"{path.name}: {problem}")
        if not problems:
            click.echo(f"{path.name}: ok")
    if failed:
        raise SystemExit(1)


@ivr.command("templates")
@domain_errors
def ivr_templates() -> None:
    """Print each Tencent Cloud SMS template to submit for approval: the SMS text's key, its id in
    tencent_sms_templates.toml, and the template's text with its variables {1}, {2}, …"""
    table = TemplateTable.load()
    for template in (*sorted(table.templates, key=lambda t: t.key), table.notice):
        click.echo(f"{template.key}\t{template.id}\t{template.text}")


@ivr.command("graph")
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["dot", "svg"]), default="svg", show_default=True)
@click.option("--language", type=click.Choice(["zh-CN", "en"]), default="zh-CN", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not stdout.")
@domain_errors
def ivr_graph(path: Path | None, fmt: str, language: str, output: Path | None) -> None:
    """Draw the call tree of a voice script (default: ivr_scripts/voice_hotline.toml): SVG laid out by Graphviz's
    dot (Debian: apt-get install graphviz fonts-noto-cjk), or the DOT itself."""
    from hotline.call_tree import NoPicture, draw_svg, graph_words
    from hotline.console.render import CONSOLE_TEXTS  # with Jinja: only for this command

    script = load_script(path or VOICE_SCRIPT_FILE)
    picture = to_dot(script, language, graph_words(CONSOLE_TEXTS, language))
    if fmt == "svg":
        try:
            picture = draw_svg(picture)
        except NoPicture as exc:
            key = "ivr_no_dot" if exc.reason == "missing" else "ivr_dot_failed"
            raise click.ClickException(CONSOLE_TEXTS.render(key, language)) from None
    if output is None:
        click.echo(picture, nl=False)
    else:
        output.write_text(picture, encoding="utf-8")
        click.echo(f"wrote {output}")


@ivr.command("fallback")
@click.option("--language", type=click.Choice(["zh-CN", "en"]), default=None, help="Default: HOTLINE_LANGUAGE.")
@domain_errors
def ivr_fallback(language: str | None) -> None:
    """Print the TwiML for the voice fallback URL: paste it into a TwiML Bin in the Twilio console and set the
    Bin's URL as the number's "Primary handler fails" URL. A caller who cannot reach the hotline at all (every web
    process down) hears the apology and is put through to HOTLINE_DUTY_PHONE. Run it again after changing the
    duty phone or the voice script's words."""
    from hotline.cli.base import settings_or_exit
    from hotline.webhooks.voice_render import Renderer

    settings = settings_or_exit()
    if not settings.duty_phone:
        raise click.ClickException("HOTLINE_DUTY_PHONE is not set: the fallback must put callers through to someone")
    script = load_script(settings.ivr_script)
    click.echo(Renderer(script, settings).fallback(language or settings.language, settings.duty_phone))
