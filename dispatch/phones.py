"""Phone numbers: parsed with `phonenumbers`, stored in E.164, masked in every log line."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers

from dispatch.exceptions import InvalidPhoneNumber


@dataclass(frozen=True)
class Phone:
    """A checked number: E.164, and whether it is a landline (which cannot receive SMS)."""

    e164: str
    landline: bool


def parse_register_phone(raw: str, region: str) -> Phone:
    """Read a number for the register: it must be valid and belong to `region`.

    Raises:
        InvalidPhoneNumber: not a number, not valid, or from another country.
    """
    e164 = normalize_phone(raw, region)
    number = phonenumbers.parse(e164, None)
    home = phonenumbers.region_code_for_number(number)
    if home != region:
        raise InvalidPhoneNumber(raw, f"is a number of {home or 'another country'}, not {region}")
    return Phone(e164, phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.FIXED_LINE)


@functools.lru_cache(maxsize=16384)  # the same residents text and call again and again
def normalize_phone(raw: str, region: str) -> str:
    """Read a phone number as a person types it and return it in E.164.

    Args:
        raw: National or international input, e.g. `13800138000`, `0371-6688 1234`, `+86 138 0013 8000`.
        region: The region for national input, e.g. `CN`.

    Returns:
        The number in E.164, e.g. `+8613800138000`.

    Raises:
        InvalidPhoneNumber: The input is not a valid number.
    """
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(raw, str(exc.args[0] if exc.args else "cannot be read")) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(raw, "no such number exists in its region")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


# A mainland mobile in E.164 (ASCII digits): its national number is the 11 digits after +86, as phonenumbers reads it.
_MAINLAND_MOBILE = re.compile(r"\+861[3-9][0-9]{9}\Z")


@functools.lru_cache(maxsize=16384)  # on every log line that names a number
def mask_phone(phone: str | None) -> str:
    """Mask a number for logs and lists: `+8613800138000` becomes `138****8000`."""
    if not phone:
        return "-"
    if _MAINLAND_MOBILE.match(phone):  # the busiest case, each resident a cache miss once: no parse needed
        return f"{phone[3:6]}****{phone[-4:]}"
    try:
        national = str(phonenumbers.parse(phone, None).national_number)
    except phonenumbers.NumberParseException:
        national = "".join(ch for ch in phone if ch.isdigit())
    if len(national) <= 4:
        return "****"
    return f"{national[:3]}****{national[-4:]}" if len(national) >= 8 else f"****{national[-4:]}"


def national_format(phone: str) -> str:
    """The number as a person dials it within its country: `+8613800138000` → `138 0013 8000`."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return phone
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))


def is_home_mobile(phone: str, region: str) -> bool:
    """True if `phone` (E.164) is a mobile of `region`: a number that can take an SMS, and not a foreign or
    premium one (never send to those: SMS pumping)."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return False
    mobile = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
    return phonenumbers.region_code_for_number(number) == region and phonenumbers.number_type(number) in mobile
