"""A refused action (`InvalidAction`) in the staff member's language: the console's sentence for its key, with the
task's status or category in words; an action without a key keeps the domain's own message."""

from __future__ import annotations

from dispatch.exceptions import InvalidAction
from dispatch.texts import MessageCatalog
from hotline.console.render import CONSOLE_TEXTS


def refusal(exc: InvalidAction, language: str, categories: MessageCatalog) -> str:
    """What to tell staff about `exc` (the refused_* sentences in texts/refusals.toml)."""
    if not exc.key:
        return str(exc)
    fields = dict(exc.fields)
    if "status" in fields:
        fields["status"] = CONSOLE_TEXTS.render(f"status_{fields['status']}", language)
    if "triage_status" in fields:
        fields["status"] = CONSOLE_TEXTS.render(f"triage_status_{fields.pop('triage_status')}", language)
    if "category" in fields:
        fields["category"] = categories.render(f"category_{fields['category']}", language)
    return CONSOLE_TEXTS.render(f"refused_{exc.key}", language, **fields)
