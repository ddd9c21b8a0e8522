"""Phone numbers through phonenumbers: national input, E.164 storage, masking."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from dispatch import inbound
from dispatch.exceptions import InvalidPhoneNumber
from dispatch.phones import mask_phone, national_format, normalize_phone


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("13800138000", "+8613800138000"),
        ("138-0013-8000", "+8613800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("0371-6688 1234", "+8637166881234"),
        ("008613800138000", "+8613800138000"),
    ],
)
def test_national_and_international_input(raw: str, e164: str) -> None:
    assert normalize_phone(raw, "CN") == e164


@pytest.mark.parametrize("raw", ["12345", "abc", "", "+86 999"])
def test_invalid_numbers_are_refused_clearly(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize_phone(raw, "CN")
    assert repr(raw) in str(caught.value)


def test_masking_keeps_only_what_a_log_needs() -> None:
    assert mask_phone("+8613800138000") == "138****8000"
    assert mask_phone(None) == "-"
    assert "0013" not in mask_phone("+8613800138000")


def test_national_format_for_people() -> None:
    assert national_format("+8613800138000") == "138 0013 8000"


@pytest.mark.parametrize(
    "raw",
    [
        "+8613800138000",  # a mobile
        "+8603712345678",  # not a number: a trunk 0 after the country code
        "+8612345678901",  # no such mobile range
        "+8637166881234",  # a landline written as 11 digits after +86
        "+8613800１38000",  # full-width digits: parsed, never taken as they come
        "+86138001380000",  # one digit too many
    ],
)
def test_a_number_taken_as_it_comes_is_stored_as_a_parse_would_store_it(raw: str) -> None:
    parsed = inbound._MAINLAND_E164.match(raw) is None
    try:
        slow = normalize_phone(raw, "CN")
    except InvalidPhoneNumber:
        slow = raw.strip()[:20]
    assert inbound.phone_or_raw(raw, "CN") == slow
    assert parsed == (raw in ("+8613800１38000", "+86138001380000"))  # the others skip the parse


def test_a_mainland_mobile_is_masked_as_phonenumbers_reads_it_without_a_parse() -> None:
    """A mainland mobile in E.164 skips the parse (each resident's number is a cache miss once, on every inbound
    SMS's log line); the mask is the same as through phonenumbers' national number, for every mobile prefix."""
    pick = random.Random(25)  # which numbers: reproducible, not secret
    numbers = [f"+861{second}{pick.randrange(10**9):09d}" for second in "3456789" for _ in range(300)]
    numbers += ["+8617951123456", "+8613800138000", "+8619912345678"]  # 17951: a carrier prefix, not stripped
    for phone in numbers:
        national = str(phonenumbers.parse(phone, None).national_number)
        assert mask_phone(phone) == f"{national[:3]}****{national[-4:]}", phone
    # Not a mainland mobile in E.164: read by phonenumbers as before.
    assert mask_phone("+861066880000") == "106****0000"  # a Beijing landline
    assert mask_phone("+86１3800138000") == "138****8000"  # full-width digits
    assert mask_phone("+442071838750") == "207****8750"
