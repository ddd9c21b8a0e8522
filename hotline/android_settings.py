"""The settings of SMS Gateway for Android (`HOTLINE_GATEWAY=android`): the phones, their webhooks' signing key,
each SIM's daily limit, and how long a phone may be quiet.

`ANDROID_PHONES` names each phone and says how to reach it, comma-separated, as `name=URL`, the login and password
in the URL (percent-encoded if they hold `@ : / , ?`), and in its query the cloud's device id and the SIM's own
daily limit if it differs from `ANDROID_DAILY_LIMIT`:

    a=http://sms:Pa55word@192.168.1.20:8080,b=https://LOGIN:PASSWORD@api.sms-gate.app/3rdparty/v1?device=ID&limit=300

No message about a bad value repeats a password.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from starlette.datastructures import Secret

from hotline.settings_reader import BadValue, Found, Setting, whole
from workers.gateways.android_sms import AndroidPhoneConfig

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}\Z")
_DEVICE = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")
MIN_SIGNING_KEY = 16


def _phone(number: int, entry: str) -> AndroidPhoneConfig:
    """One `name=URL` entry; `number` (from 1) names it in a problem, never its password."""
    name, _, url = entry.partition("=")
    name = name.strip()
    if not _NAME.match(name):
        raise BadValue(f"phone {number}: its name must be 1-16 of a-z, 0-9 and '-', then '=' and its URL")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise BadValue(f"phone {name}: its URL cannot be read") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadValue(f"phone {name}: its URL must start http:// or https:// and name a host")
    if not parts.username or parts.password is None:
        raise BadValue(f"phone {name}: its URL must carry login:password@ before the host")
    try:
        query = parse_qs(parts.query, strict_parsing=bool(parts.query))
    except ValueError:
        raise BadValue(f"phone {name}: its query must be device=…&limit=…") from None
    if set(query) - {"device", "limit"} or any(len(values) > 1 for values in query.values()):
        raise BadValue(f"phone {name}: its query may only hold device=… and limit=…, once each")
    device = query.get("device", [None])[0]
    if device is not None and not _DEVICE.match(device):
        raise BadValue(f"phone {name}: device must be the phone's device id (letters, digits, - and _)")
    limit = query.get("limit", [None])[0]
    daily_limit = whole(1, 100_000, "SMS a day")(limit, {}) if limit is not None else None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host + (f":{port}" if port else "")
    base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return AndroidPhoneConfig(name, base, unquote(parts.username), unquote(parts.password), device, daily_limit)


def android_phones(raw: str, found: Found) -> tuple[AndroidPhoneConfig, ...]:
    """Comma-separated `name=URL` entries (see the module's doc); empty: none."""
    phones = tuple(_phone(n, entry) for n, entry in enumerate((e for e in raw.split(",") if e.strip()), start=1))
    names = [phone.name for phone in phones]
    if len(set(names)) != len(names):
        raise BadValue("names a phone twice")
    return phones


def signing_key(raw: str, found: Found) -> Secret:
    """The key the app signs its webhooks with (Settings → Webhooks → Signing Key on each phone)."""
    if len(raw) < MIN_SIGNING_KEY:
        raise BadValue(
            f"must be at least {MIN_SIGNING_KEY} characters: set a long key in each phone's app "
            "(Settings → Webhooks → Signing Key); its own 8-character key is too easy to guess"
        )
    return Secret(raw)


ANDROID_SETTINGS: tuple[Setting, ...] = (
    Setting("ANDROID_PHONES", "android_phones", android_phones, "", "name=URL of each phone; carries passwords"),
    Setting("ANDROID_SIGNING_KEY", "android_signing_key", signing_key, None, "the phones' webhook signing key"),
    Setting(
        "ANDROID_DAILY_LIMIT",
        "android_daily_limit",
        whole(1, 100_000, "SMS a day"),
        "200",
        "most SMS each SIM sends in a day",
    ),
    Setting(
        "ANDROID_QUIET_MINUTES",
        "android_quiet_minutes",
        whole(2, 1440, "minutes"),
        "15",
        "a phone not heard from this long gets no new work while another can take it",
    ),
)
