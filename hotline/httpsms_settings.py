"""The setting of httpSMS's missed calls (a community's own SIM, in an Android phone running httpSMS): the key its
webhooks are signed with. Unset: `/httpsms/events` refuses everything."""

from __future__ import annotations

from starlette.datastructures import Secret

from hotline.settings_reader import BadValue, Found, Setting

MIN_SIGNING_KEY = 32  # HS256's key: at least its 256 bits (RFC 7518 §3.2)


def signing_key(raw: str, found: Found) -> Secret:
    """The webhook's signing key, as entered in httpSMS's settings (Webhooks → Signing Key)."""
    if len(raw) < MIN_SIGNING_KEY:
        raise BadValue(
            f"must be at least {MIN_SIGNING_KEY} characters, the same key entered as the webhook's signing key in "
            "httpSMS (python3 -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return Secret(raw)


HTTPSMS_SETTINGS: tuple[Setting, ...] = (
    Setting("HTTPSMS_SIGNING_KEY", "httpsms_signing_key", signing_key, None, "httpSMS's webhook signing key"),
)
