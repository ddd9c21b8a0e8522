"""Pages: Jinja2 templates with the console's words (`texts.toml`) in the staff member's language."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from dispatch.models import StaffUser
from dispatch.phones import national_format
from dispatch.texts import MessageCatalog
from hotline.console.auth import CSRF_FIELD, csrf_token

HERE = Path(__file__).parent
# The shared words in texts.toml; each page's own words in texts/<page>.toml.
CONSOLE_TEXTS = MessageCatalog.load_all([HERE / "texts.toml", *sorted((HERE / "texts").glob("*.toml"))])
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
TEMPLATES.env.filters["phone"] = national_format  # {{ number|phone }}: as people dial it, never E.164


def language_of(request: Request, user: StaffUser | None) -> str:
    """The account's language; before sign-in, the hotline's staff language."""
    if user is not None:
        return user.language
    return str(request.app.state.services.settings.language)


def page(
    request: Request, template: str, user: StaffUser | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render `template` with `t` (the words), the CSRF token and the account."""
    language = language_of(request, user)

    def t(key: str, **fields: object) -> str:
        return CONSOLE_TEXTS.render(key, language, **fields)

    zone = request.app.state.services.settings.timezone

    def when(moment: datetime | None, pattern: str = "%m-%d %H:%M") -> str:
        """A stored UTC time as the hotline's local time ("-" for none)."""
        return "-" if moment is None else moment.astimezone(zone).strftime(pattern)

    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "t": t,
            "when": when,
            "lang": language,
            "user": user,
            "csrf_field": CSRF_FIELD,
            "csrf": csrf_token(request),
            "simulator": request.app.state.services.settings.gateway == "local",
            **context,
        },
        status_code=status_code,
    )
