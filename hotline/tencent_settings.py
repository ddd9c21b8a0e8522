"""Tencent Cloud's settings: for SMS (HOTLINE_GATEWAY=tencent) the API key, the SMS application and its approved
sign, where the API is, and the secret Tencent's callback URLs carry; for the check-in call through its voice
messages (HOTLINE_CALL_GATEWAY=tencent) the voice application, where that API is, and how often a call says the
template."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Secret

from dispatch.sms_templates import SIGN_LONGEST
from hotline.settings_reader import BadValue, Found, Setting, matching

TENCENT_SMS_ENDPOINT = "sms.tencentcloudapi.com"
TENCENT_VMS_ENDPOINT = "vms.tencentcloudapi.com"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def secret(problem: str, pattern: str) -> Any:
    """A secret matching `pattern`, kept as a `Secret` (never shown in a repr or a log line)."""
    compiled = re.compile(pattern)

    def kind(raw: str, found: Found) -> Secret:
        if not compiled.match(raw):
            raise BadValue(problem)
        return Secret(raw)

    return kind


def sign_name(raw: str, found: Found) -> str:
    """The approved sign's own text, as Tencent's console shows it: without 【】."""
    if any(ch in raw for ch in "【】[]") or not 2 <= len(raw) <= SIGN_LONGEST:
        raise BadValue(f"must be the approved sign's text, 2 to {SIGN_LONGEST} characters, without 【】")
    return raw


def endpoint(raw: str, found: Found) -> str:
    """`host[:port]` (HTTPS), or a URL: https://host, or http:// to a stand-in on this machine only."""
    parts = urlsplit(raw if "://" in raw else f"https://{raw}")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/") or parts.query:
        raise BadValue("must be a host such as sms.tencentcloudapi.com, or a URL with no path")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise BadValue("may be http:// only to a stand-in on this machine (127.0.0.1, localhost)")
    return raw.rstrip("/")


def play_times(raw: str, found: Found) -> int:
    """How many times Tencent reads the template in one call: 1 to 3, as SendTtsVoice takes it."""
    if raw not in ("1", "2", "3"):
        raise BadValue("must be 1, 2 or 3: how many times one call says the check-in")
    return int(raw)


TENCENT_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "TENCENT_SECRET_ID",
        "tencent_secret_id",
        matching(r"^[0-9A-Za-z]{16,128}\Z", "must be letters and digits, as the API key page shows it (AKID…)"),
        help="the API key's SecretId",
    ),
    Setting(
        "TENCENT_SECRET_KEY",
        "tencent_secret_key",
        secret("must be letters and digits, as the API key page shows it", r"^[0-9A-Za-z]{16,128}\Z"),
        help="the API key's SecretKey",
    ),
    Setting(
        "TENCENT_SMS_APP_ID",
        "tencent_sms_app_id",
        matching(r"^[0-9]{6,20}\Z", "must be the SMS application's SdkAppId: digits, such as 1400006666"),
        help="the SMS application's SdkAppId",
    ),
    Setting("TENCENT_SMS_SIGN_NAME", "tencent_sms_sign_name", sign_name, help="the approved sign, without 【】"),
    Setting(
        "TENCENT_REGION",
        "tencent_region",
        matching(r"^[a-z]{2,}(-[a-z]+)+(-[0-9]+)?\Z", "must be a region such as ap-guangzhou"),
        "ap-guangzhou",
        "the API's region",
    ),
    Setting("TENCENT_SMS_ENDPOINT", "tencent_sms_endpoint", endpoint, TENCENT_SMS_ENDPOINT, "where SendSms goes"),
    Setting(
        "TENCENT_CALLBACK_SECRET",
        "tencent_callback_secret",
        secret("must be at least 24 of A-Z a-z 0-9 _ - (it rides in the callback URLs)", r"^[A-Za-z0-9_-]{24,256}\Z"),
        help="the s= of the callback URLs",
    ),
    Setting(
        "TENCENT_VOICE_APP_ID",
        "tencent_voice_app_id",
        matching(r"^[0-9]{6,20}\Z", "must be the voice application's SdkAppId: digits, such as 1400006666"),
        help="the voice messages application's SdkAppId (VoiceSdkAppid)",
    ),
    Setting("TENCENT_VMS_ENDPOINT", "tencent_vms_endpoint", endpoint, TENCENT_VMS_ENDPOINT, "where SendTtsVoice goes"),
    Setting("TENCENT_VOICE_PLAY_TIMES", "tencent_voice_play_times", play_times, "2", "times one call says it"),
)
